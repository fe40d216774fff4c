import React from 'react';

import { IBatch } from '../types';

/**
 * Whether a batch matches a search: every word must appear in its name, id, state or profile;
 * `state:X` and `profile:X` match those exactly.
 */
export function matchesFilter(batch: IBatch, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const hay = [batch.name, batch.batch_id, batch.state, batch.profile]
    .join('\n')
    .toLowerCase();
  return words.every(w => {
    const [key, value] = w.split(':', 2);
    if (value !== undefined && key === 'state') {
      return batch.state === value;
    }
    if (value !== undefined && key === 'profile') {
      return batch.profile.toLowerCase() === value;
    }
    return hay.includes(w);
  });
}

/** The search box over batches (name, state, profile). */
export function BatchFilter(props: {
  value: string;
  onChange: (value: string) => void;
  shown: number;
  total: number;
}): JSX.Element {
  return (
    <div className="jp-TramwayBatchFilter">
      <input
        className="jp-mod-styled"
        type="search"
        placeholder="Filter: name, state:failed, profile:local"
        title="Words that a batch's name, state or profile must contain; state:X and profile:X match exactly"
        value={props.value}
        onChange={e => props.onChange(e.target.value)}
      />
      {props.value && (
        <span className="jp-TramwayBatchFilter-count">
          {props.shown}/{props.total}
        </span>
      )}
    </div>
  );
}
