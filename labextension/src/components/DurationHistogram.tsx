import React from 'react';

import { IDurationHistogram } from '../types';
import { formatDuration } from '../util';

const WIDTH = 200;
const HEIGHT = 48;

/** The durations of a batch's done tasks: an inline SVG bar chart, shortest to longest. */
export function DurationHistogram(props: {
  histogram: IDurationHistogram;
}): JSX.Element {
  const { counts, shortest, longest } = props.histogram;
  const top = Math.max(1, ...counts);
  const bar = WIDTH / counts.length;
  const step = (longest - shortest) / counts.length;
  const total = counts.reduce((a, b) => a + b, 0);
  return (
    <figure className="jp-TramwayHistogram">
      <svg
        width="100%"
        viewBox={`0 0 ${WIDTH} ${HEIGHT}`}
        preserveAspectRatio="none"
        role="img"
        aria-label={`durations of ${total} done tasks`}
      >
        {counts.map((n, i) => {
          const h = n ? Math.max(1, (n / top) * HEIGHT) : 0;
          const lo = shortest + i * step;
          return (
            <rect
              key={i}
              className="jp-TramwayHistogram-bar"
              x={i * bar + 0.5}
              y={HEIGHT - h}
              width={Math.max(1, bar - 1)}
              height={h}
            >
              <title>
                {`${n} task${n === 1 ? '' : 's'}: ${formatDuration(lo)} – ${formatDuration(lo + step)}`}
              </title>
            </rect>
          );
        })}
      </svg>
      <figcaption className="jp-TramwayHistogram-axis">
        <span>{formatDuration(shortest)}</span>
        <span>durations of {total.toLocaleString()} done tasks</span>
        <span>{formatDuration(longest)}</span>
      </figcaption>
    </figure>
  );
}
