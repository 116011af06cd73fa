#!/usr/bin/env bash
# Install Slurm (slurmctld, slurmd, sbatch, ...) and munge so the Slurm tests can start a real
# single-node cluster on localhost. Idempotent: does nothing when slurmctld is already installed.
# Needs root and apt-get (Debian/Ubuntu); elsewhere it says how to install and exits 0, and the
# Slurm tests skip with their own reason.
set -euo pipefail

if command -v slurmctld >/dev/null 2>&1 || [ -x /usr/sbin/slurmctld ]; then
    echo "setup_slurm: slurmctld already installed ($(command -v slurmctld || echo /usr/sbin/slurmctld))"
    exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "setup_slurm: not installing (needs root and apt-get); install 'slurm-wlm' and 'munge' to run the Slurm tests"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# An image without package lists cannot resolve the names: update once, only then.
if ! apt-cache show slurm-wlm >/dev/null 2>&1; then
    apt-get update -q
fi
apt-get install -y -q --no-install-recommends slurm-wlm munge
echo "setup_slurm: installed $(slurmctld -V 2>/dev/null || echo slurm-wlm) and munge"
