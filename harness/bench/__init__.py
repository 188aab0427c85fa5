"""Speed benchmark of the harness (scripts/bench.py): how close the trainer runs to the machine and to a plain loop.

    machine.py     the device and its measured dense matmul peak
    shapes.py      the distinct model shapes of a preset, from the harness's own plan
    plain_loop.py  the reference: a hand-written nanoGPT-style loop, independent of models/
    timing.py      trainer vs plain loop, interleaved; the cost of test-loss evaluation
    threads.py     processes side by side: threads per job on the CPU, k trainers sharing one device
    profile.py     where a step's time goes: matmuls, attention, optimizer, the rest (CPU)
    sweep_time.py  where a finished sweep's wall time went
    ceiling.py     a whole preset: plain loop vs trainer vs the compute floor at the measured peak
    time_to_law.py the plain way's time for a preset's results against a sweep's, and the ratio's factors
                   (plain_run.py: one plain run in its own process; time_to_law_run.py: scripts/bench_time_to_law.py)
    variants.py    candidate trainer changes, each timed against the trainer as it is
    divergence_margins.py  how far healthy runs of a preset stay from the divergence rules (run as a module)
    noise.py       test-loss noise of one run against the paired difference of two (scripts/noise.py)
    report.py      markdown + parquet
    run.py         run_benchmark(BenchOptions): all of the above in one process
    gpu.py         the GPU measurement of scripts/gpu_bench.py: peak, trainer MFU, packed tiny models against one
                   process per model (gpu_packed.py), the default sweep (gpu_report.py writes it; limited.py runs
                   the sweep with a time limit; datasheet.py: datasheet peaks of GPUs)
"""
