import React from 'react';

import { State } from '../types';

export function StateBadge(props: { state: State }): JSX.Element {
  return (
    <span
      className={`jp-TramwayState jp-mod-${props.state}`}
      data-state={props.state}
    >
      {props.state}
    </span>
  );
}
