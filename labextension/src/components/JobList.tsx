import { stopIcon } from '@jupyterlab/ui-components';
import React, { useEffect, useState } from 'react';

import { getJobs } from '../api';
import { ACTIVE_STATES, IJob } from '../types';
import { errorMessage } from '../util';
import { IconButton } from './IconButton';
import { StateBadge } from './StateBadge';

/** Jobs listed at most (a Slurm batch can have thousands: the first page only). */
const JOBS_SHOWN = 100;

/** The jobs of an active batch, each with its own Cancel button. */
export function JobList(props: {
  batchId: string;
  tick: number;
  onCancel: (batchId: string, jobIndex: number) => Promise<void>;
}): JSX.Element | null {
  const [jobs, setJobs] = useState<IJob[] | null>(null);
  const [total, setTotal] = useState(0);
  const [error, setError] = useState<string | null>(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let live = true;
    getJobs(props.batchId, 0, JOBS_SHOWN)
      .then(page => {
        if (live) {
          setJobs(page.jobs);
          setTotal(page.total);
          setError(null);
        }
      })
      .catch(reason => live && setError(errorMessage(reason)));
    return () => {
      live = false;
    };
  }, [props.batchId, props.tick, version]);
  if (error) {
    return <div className="jp-TramwayTasks-error">{error}</div>;
  }
  if (!jobs) {
    return null;
  }
  return (
    <div className="jp-TramwayJobs">
      <div className="jp-TramwayJobs-title">
        {total.toLocaleString()} job{total === 1 ? '' : 's'}
        {total > jobs.length ? ` (first ${jobs.length})` : ''}
      </div>
      <ul className="jp-TramwayJobs-list">
        {jobs.map(j => (
          <li
            key={j.job_index}
            className="jp-TramwayJob"
            data-job-index={j.job_index}
            data-state={j.state}
          >
            <span className="jp-TramwayJob-name">
              job {j.job_index} · {j.stage} · {j.n_tasks} task
              {j.n_tasks === 1 ? '' : 's'}
            </span>
            <StateBadge state={j.state} />
            {ACTIVE_STATES.includes(j.state) && (
              <IconButton
                icon={stopIcon}
                label="Cancel"
                title={`Cancel job ${j.job_index} only`}
                className="jp-mod-cancel jp-mod-cancelJob"
                onClick={() =>
                  void props
                    .onCancel(props.batchId, j.job_index)
                    .then(() => setVersion(v => v + 1))
                }
              />
            )}
          </li>
        ))}
      </ul>
    </div>
  );
}
