import React from 'react';

import { Counts, State } from '../types';

/** Segments drawn left to right; pending counts with queued, lost with failed. */
const SEGMENTS: { key: string; states: State[]; label: string }[] = [
  { key: 'done', states: ['done'], label: 'done' },
  { key: 'running', states: ['running'], label: 'running' },
  { key: 'queued', states: ['queued', 'pending'], label: 'queued' },
  { key: 'failed', states: ['failed', 'lost'], label: 'failed' },
  { key: 'cancelled', states: ['cancelled'], label: 'cancelled' }
];

export function ProgressBar(props: { counts: Counts }): JSX.Element {
  const total = Object.values(props.counts).reduce((a, b) => a + (b ?? 0), 0);
  const parts = SEGMENTS.map(s => ({
    ...s,
    n: s.states.reduce((a, st) => a + (props.counts[st] ?? 0), 0)
  })).filter(s => s.n > 0);
  const title = parts.map(p => `${p.n} ${p.label}`).join(', ');
  return (
    <div className="jp-TramwayProgress" title={title} role="progressbar">
      {parts.map(p => (
        <div
          key={p.key}
          className={`jp-TramwayProgress-segment jp-mod-${p.key}`}
          style={{ width: `${(100 * p.n) / Math.max(total, 1)}%` }}
        />
      ))}
    </div>
  );
}
