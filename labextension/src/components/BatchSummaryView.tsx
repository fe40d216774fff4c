import React, { useEffect, useState } from 'react';

import { getSummary } from '../api';
import { IBatchSummary } from '../types';
import { errorMessage } from '../util';
import { DurationHistogram } from './DurationHistogram';

/** A finished batch's summary: its durations histogram and its failures grouped by message. */
export function BatchSummaryView(props: {
  batchId: string;
  tick: number;
}): JSX.Element | null {
  const [summary, setSummary] = useState<IBatchSummary | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    getSummary(props.batchId)
      .then(s => live && setSummary(s))
      .catch(reason => live && setError(errorMessage(reason)));
    return () => {
      live = false;
    };
  }, [props.batchId, props.tick]);
  if (error) {
    return <div className="jp-TramwayTasks-error">{error}</div>;
  }
  if (!summary) {
    return null;
  }
  const shown = summary.failures.reduce((a, g) => a + g.count, 0);
  return (
    <div className="jp-TramwaySummary">
      {summary.durations && <DurationHistogram histogram={summary.durations} />}
      {summary.n_failed > 0 && (
        <div className="jp-TramwayFailures">
          <div className="jp-TramwayFailures-title">
            {summary.n_failed.toLocaleString()} failed, by error
          </div>
          <ul>
            {summary.failures.map(g => (
              <li key={g.error ?? ''} title={g.error ?? ''}>
                <span className="jp-TramwayFailures-count">{g.count}×</span>
                <span className="jp-TramwayFailures-message">
                  {g.error ?? '(no error message)'}
                </span>
              </li>
            ))}
            {summary.n_failed > shown && (
              <li className="jp-TramwayFailures-more">
                … {summary.n_failed - shown} with other messages
              </li>
            )}
          </ul>
        </div>
      )}
    </div>
  );
}
