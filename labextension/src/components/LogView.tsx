import React, { useEffect, useState } from 'react';

import { getTaskLog } from '../api';
import { ITaskLog } from '../types';
import { errorMessage, stripAnsi } from '../util';

/** The tail of a task's job log (reloaded when `tick` changes). */
export function LogView(props: {
  batchId: string;
  taskId: string;
  tick: number;
}): JSX.Element {
  const [log, setLog] = useState<ITaskLog | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    getTaskLog(props.batchId, props.taskId)
      .then(data => live && (setLog(data), setError(null)))
      .catch(reason => live && setError(errorMessage(reason)));
    return () => {
      live = false;
    };
  }, [props.batchId, props.taskId, props.tick]);
  if (error) {
    return <div className="jp-TramwayLog jp-mod-empty">{error}</div>;
  }
  if (!log) {
    return <div className="jp-TramwayLog jp-mod-empty">Loading log…</div>;
  }
  return (
    <div className="jp-TramwayLog">
      <div className="jp-TramwayLog-path" title={log.path}>
        {log.path}
        {log.truncated ? ' (last 256 KiB)' : ''}
      </div>
      <pre className="jp-TramwayLog-text">{stripAnsi(log.log)}</pre>
    </div>
  );
}
