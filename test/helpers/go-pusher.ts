import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { hasTool } from './tools.js';

const run = promisify(execFile);

/**
 * A small program on Debian's client_golang (golang-github-prometheus-client-golang-dev, built in GOPATH
 * mode) that pushes with the real Go client in its default format, protobuf delimited:
 *   pusher <gateway url> push|add|delete|native
 * push (PUT) and add (POST) send a counter, a gauge, a classic histogram and a summary; native (PUT) sends
 * a native histogram with a classic part; delete deletes the group. Grouping key: job "go job" with
 * path="/var/tmp" (base64 in the URL), empty="" and city="Zürich".
 */
const GO_SOURCE = `package main

import (
	"fmt"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

func main() {
	url, mode := os.Args[1], os.Args[2]
	reg := prometheus.NewRegistry()
	p := push.New(url, "go job").Grouping("path", "/var/tmp").Grouping("empty", "").Grouping("city", "Zürich").Gatherer(reg)
	var err error
	switch mode {
	case "push", "add":
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "go_ops_total", Help: "Operations done."})
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "go_temperature_celsius", Help: "Température \\"ambiante\\"."}, []string{"room"})
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "go_latency_seconds", Help: "Latency.", Buckets: []float64{0.1, 1}})
		s := prometheus.NewSummary(prometheus.SummaryOpts{Name: "go_size_bytes", Help: "Size.", Objectives: map[float64]float64{0.5: 0.05}})
		reg.MustRegister(c, g, h, s)
		c.Add(3)
		g.WithLabelValues("küche/1").Set(21.5)
		h.Observe(0.05)
		h.Observe(0.5)
		h.Observe(7)
		s.Observe(10)
		if mode == "add" {
			g.WithLabelValues("küche/1").Set(22.5)
			err = p.Add()
		} else {
			err = p.Push()
		}
	case "native":
		h := prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "go_native_seconds", Help: "A native histogram.",
			Buckets: []float64{1}, NativeHistogramBucketFactor: 1.1,
		})
		reg.MustRegister(h)
		for _, v := range []float64{0.5, 1.5, 1.5, 3, 10} {
			h.Observe(v)
		}
		err = p.Push()
	case "delete":
		err = p.Delete()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
`;

/** True when go and the Debian client_golang sources are installed. */
export function hasGoClient(): boolean {
  return hasTool('client-golang');
}

/**
 * Builds the pusher once per source version into the temp dir (reused by later runs, with Go's build
 * cache next to it) and returns its path.
 */
export async function buildGoPusher(): Promise<string> {
  const hash = createHash('sha256').update(GO_SOURCE).digest('hex').slice(0, 12);
  const dir = path.join(os.tmpdir(), `pushkeep-go-pusher-${hash}`);
  const binary = path.join(dir, 'pusher');
  if (fs.existsSync(binary)) return binary;
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'main.go'), GO_SOURCE);
  const tmpBinary = `${binary}.${process.pid}`;
  await run('go', ['build', '-o', tmpBinary, 'main.go'], {
    cwd: dir,
    env: {
      ...process.env,
      GO111MODULE: 'off',
      GOPATH: '/usr/share/gocode',
      GOCACHE: path.join(os.tmpdir(), 'pushkeep-go-cache'),
      GOFLAGS: '',
    },
    timeout: 300_000,
  });
  fs.renameSync(tmpBinary, binary);
  return binary;
}

export async function goPush(binary: string, url: string, mode: 'push' | 'add' | 'delete' | 'native'): Promise<void> {
  await run(binary, [url, mode], { timeout: 20_000 });
}
