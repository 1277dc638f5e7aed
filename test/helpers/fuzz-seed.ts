import fc from 'fast-check';

/**
 * Property tests and the HTTP fuzzer run from a fixed seed, so CI is repeatable; set FUZZ_SEED
 * to explore other inputs (a failure prints the seed that reproduces it).
 */
export const FUZZ_SEED = Number(process.env['FUZZ_SEED'] ?? 20_261_125);

fc.configureGlobal({ seed: FUZZ_SEED });
