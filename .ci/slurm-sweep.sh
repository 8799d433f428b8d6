#!/usr/bin/env bash
# Runs a small sweep as a Slurm job array on a one-node cluster on localhost, and checks that
# every case completed and that the merged result equals the same sweep run in one process.
# Needs root (it starts munged, slurmctld and slurmd) and a release build of secretome.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/slurm-cluster.sh

work="$PWD/target/ci-slurm"
rm -rf "$work"
mkdir -p "$work"
cat > "$work/sweep.toml" <<'SWEEP'
[sweep]
base = "../../scenarios/validation_slab_1d.toml"

[[vary]]
key = "species[solute].diffusivity.gel"
values = ["50 um^2/s", "100 um^2/s"]

[[vary]]
key = "species[solute].initial.gel"
values = ["50 pg/mL", "100 pg/mL", "200 pg/mL"]
SWEEP
bin="$PWD/target/release/secretome"

# The job array: one task per shard, each running its share of the cases (the shard comes from
# SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT; the threads from
# SLURM_CPUS_PER_TASK).
sbatch --wait --array=0-2 --cpus-per-task=1 --output="$work/slurm-%A_%a.out" \
    --wrap="$bin sweep $work/sweep.toml --out $work/array --backend cpu"
"$bin" collect "$work/array"

# The same sweep in one process.
"$bin" sweep "$work/sweep.toml" --out "$work/single" --backend cpu --threads 1
"$bin" collect "$work/single"

# Every case's time series is the same, bit for bit; so are the results but for the wall time
# and folder columns.
for case in "$work"/single/case_*; do
    cmp "$case/timeseries.csv" "$work/array/$(basename "$case")/timeseries.csv"
done
strip() { awk -F, '{ NF -= 2; print }' OFS=, "$1"; }
diff <(strip "$work/single/results.csv") <(strip "$work/array/results.csv")
echo "slurm: the job-array sweep equals the single-process sweep ($(ls -d "$work"/array/case_* | wc -l) cases)"
