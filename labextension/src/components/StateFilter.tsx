import { HTMLSelect } from '@jupyterlab/ui-components';
import React from 'react';

import { State, STATES } from '../types';

export function StateFilter(props: {
  value: State | '';
  onChange: (value: State | '') => void;
}): JSX.Element {
  return (
    <label className="jp-TramwayFilter">
      Show
      <HTMLSelect
        className="jp-TramwayFilter-select"
        aria-label="Filter tasks by state"
        value={props.value}
        onChange={e => props.onChange(e.currentTarget.value as State | '')}
        options={[
          { label: 'all tasks', value: '' },
          ...STATES.map(s => ({ label: s, value: s }))
        ]}
      />
    </label>
  );
}
