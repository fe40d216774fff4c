import React from 'react';

import { Counts, STATES, StageCounts, State } from '../types';

function n(counts: Counts, s: State): number {
  return counts[s] ?? 0;
}

/**
 * Task counts of an expanded batch: one button per state (click: show only that state; again:
 * all), and, for several stages, a stage x state table whose cells filter by both.
 */
export function TaskCounts(props: {
  counts: Counts;
  stages: StageCounts;
  state: State | '';
  stage: string;
  onFilter: (state: State | '', stage: string) => void;
}): JSX.Element {
  const present = STATES.filter(s => n(props.counts, s) > 0);
  const stageNames = Object.keys(props.stages);
  return (
    <div className="jp-TramwayCounts">
      <div
        className="jp-TramwayCounts-states"
        role="group"
        aria-label="Tasks per state"
      >
        {present.map(s => (
          <button
            type="button"
            key={s}
            className={`jp-TramwayCount jp-mod-${s}${props.state === s ? ' jp-mod-active' : ''}`}
            data-state={s}
            aria-pressed={props.state === s}
            title={
              props.state === s ? 'Show all tasks' : `Show only the ${s} tasks`
            }
            onClick={() =>
              props.onFilter(props.state === s ? '' : s, props.stage)
            }
          >
            <span className="jp-TramwayCount-label">{s}</span>
            <span className="jp-TramwayCount-n">
              {n(props.counts, s).toLocaleString()}
            </span>
          </button>
        ))}
      </div>
      {stageNames.length > 1 && (
        <table className="jp-TramwayStages">
          <thead>
            <tr>
              <th>stage</th>
              {present.map(s => (
                <th key={s}>{s}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {stageNames.map(stage => (
              <tr
                key={stage}
                data-stage={stage}
                className={props.stage === stage ? 'jp-mod-active' : ''}
              >
                <th>
                  <button
                    type="button"
                    className="jp-TramwayStages-stage"
                    title={
                      props.stage === stage
                        ? 'Show every stage'
                        : `Show only the tasks of stage ${stage}`
                    }
                    onClick={() =>
                      props.onFilter(
                        props.state,
                        props.stage === stage ? '' : stage
                      )
                    }
                  >
                    {stage}
                  </button>
                </th>
                {present.map(s => {
                  const count = n(props.stages[stage] ?? {}, s);
                  const active = props.stage === stage && props.state === s;
                  return (
                    <td key={s} data-state={s}>
                      {count > 0 ? (
                        <button
                          type="button"
                          className={`jp-TramwayStages-cell${active ? ' jp-mod-active' : ''}`}
                          title={`Show the ${s} tasks of stage ${stage}`}
                          onClick={() =>
                            active
                              ? props.onFilter('', '')
                              : props.onFilter(s, stage)
                          }
                        >
                          {count.toLocaleString()}
                        </button>
                      ) : (
                        <span className="jp-TramwayStages-zero">·</span>
                      )}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
