#!/bin/bash
# tramway-jupyter: tj-20261123-infer, 4 job(s); options on the sbatch line
# slurm/001-infer-0.jobs holds one 'JOB_INDEX ATTEMPT' line per array element.
cd '/scratch/u/my batch' || exit 97
read -r TJ_JOB TJ_ATTEMPT < <(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" slurm/001-infer-0.jobs)
[ -n "$TJ_JOB" ] || { echo "no job for array element $SLURM_ARRAY_TASK_ID"; exit 98; }
exec >>"logs/job-${TJ_JOB}-a${TJ_ATTEMPT}.log" 2>&1
echo "tramway-jupyter: job ${TJ_JOB} attempt ${TJ_ATTEMPT} = Slurm ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname) at $(date -Is)"
/opt/env/bin/python -m tramway_jupyter.worker '/scratch/u/my batch' "$TJ_JOB"
