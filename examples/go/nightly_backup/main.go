// Command nightly_backup is the seed guide's backup job written with client_golang:
// it simulates a backup and pushes four gauges to a push gateway (Pushkeep or the official one)
// under job="nightly_backup", instance="database-01".
//
// Environment:
//
//	PUSHGATEWAY     gateway address, "host:port" or a URL (default localhost:9091)
//	BACKUP_OUTCOME  "success" or "failure" to force the result; anything else is random (80% success)
//	BACKUP_SECONDS  simulated duration in seconds (default: random between 1 and 3)
package main

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/push"
)

func gatewayURL() string {
	addr := os.Getenv("PUSHGATEWAY")
	if addr == "" {
		addr = "localhost:9091"
	}
	// push.New accepts a bare host:port, but saying http:// keeps the three examples' behaviour identical.
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	return addr
}

// performBackup stands in for the real work; BACKUP_OUTCOME and BACKUP_SECONDS make it deterministic for tests.
func performBackup(rng *rand.Rand) (bool, time.Duration) {
	seconds := 1 + 2*rng.Float64()
	if s, err := strconv.ParseFloat(os.Getenv("BACKUP_SECONDS"), 64); err == nil && s >= 0 {
		seconds = s
	}
	duration := time.Duration(seconds * float64(time.Second))
	time.Sleep(duration)
	switch os.Getenv("BACKUP_OUTCOME") {
	case "success":
		return true, duration
	case "failure":
		return false, duration
	}
	return rng.Float64() > 0.2, duration
}

func main() {
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))

	backupSuccess := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "backup_success",
		Help: "Whether the backup succeeded (1 for success, 0 for failure)",
	})
	backupDuration := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "backup_duration_seconds",
		Help: "Time taken to perform backup",
	})
	backupSize := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "backup_size_bytes",
		Help: "Size of the backup in bytes",
	})
	backupLastTimestamp := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "backup_last_timestamp",
		Help: "Unix timestamp of the last backup attempt",
	})

	success, duration := performBackup(rng)

	if success {
		backupSuccess.Set(1)
		backupSize.Set(float64(1_000_000 + rng.Intn(4_000_001)))
	} else {
		backupSuccess.Set(0)
	}
	backupDuration.Set(duration.Seconds())
	backupLastTimestamp.SetToCurrentTime()

	// Push (PUT) replaces the whole group, exactly like Python's push_to_gateway.
	err := push.New(gatewayURL(), "nightly_backup").
		Grouping("instance", "database-01").
		Collector(backupSuccess).
		Collector(backupDuration).
		Collector(backupSize).
		Collector(backupLastTimestamp).
		Push()
	if err != nil {
		// A monitoring outage must not turn a good backup into a failed job: log and carry on.
		fmt.Fprintf(os.Stderr, "failed to push metrics: %v\n", err)
	}

	outcome := "failed"
	if success {
		outcome = "succeeded"
	}
	fmt.Printf("Backup %s in %.2f seconds\n", outcome, duration.Seconds())
}
