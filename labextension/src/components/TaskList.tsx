import React, { useEffect, useState } from 'react';

import { getBatch } from '../api';
import { IBatchDetail, State } from '../types';
import { errorMessage } from '../util';
import { StateFilter } from './StateFilter';
import { TaskItem } from './TaskItem';

/** The tasks of an expanded batch, filtered by state, reloaded at every tick. */
export function TaskList(props: {
  batchId: string;
  tick: number;
  initialFilter: State | '';
  onOpenNotebook: (batchId: string, taskId: string) => void;
}): JSX.Element {
  const [filter, setFilter] = useState<State | ''>(props.initialFilter);
  const [detail, setDetail] = useState<IBatchDetail | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    getBatch(props.batchId, filter ? [filter] : [])
      .then(data => live && (setDetail(data), setError(null)))
      .catch(reason => live && setError(errorMessage(reason)));
    return () => {
      live = false;
    };
  }, [props.batchId, props.tick, filter]);
  return (
    <div className="jp-TramwayTasks">
      <div className="jp-TramwayTasks-toolbar">
        <StateFilter value={filter} onChange={setFilter} />
        {detail && (
          <span className="jp-TramwayTasks-count">
            {detail.tasks.length} task{detail.tasks.length === 1 ? '' : 's'}
            {` · ${detail.jobs.length} job${detail.jobs.length === 1 ? '' : 's'}`}
          </span>
        )}
      </div>
      {error && <div className="jp-TramwayTasks-error">{error}</div>}
      {!detail && !error && (
        <div className="jp-TramwayTasks-empty">Loading tasks…</div>
      )}
      {detail && detail.tasks.length === 0 && (
        <div className="jp-TramwayTasks-empty">No {filter} tasks.</div>
      )}
      {detail && detail.tasks.length > 0 && (
        <ul className="jp-TramwayTasks-list">
          {detail.tasks.map(t => (
            <TaskItem
              key={t.task_id}
              batchId={props.batchId}
              task={t}
              expanded={open === t.task_id}
              tick={props.tick}
              onToggle={id => setOpen(open === id ? null : id)}
              onOpenNotebook={props.onOpenNotebook}
            />
          ))}
        </ul>
      )}
    </div>
  );
}
