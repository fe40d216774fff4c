/**
 * The left-sidebar panel (Lumino shell): owns the model and its Poll, renders BatchList, and
 * opens tasks' errors in main-area tabs of the shell it is given.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Poll } from '@lumino/polling';
import { PanelLayout, Widget } from '@lumino/widgets';
import React from 'react';

import { BatchesModel } from './model';
import { IBatchActions } from './components/BatchItem';
import { BatchList } from './components/BatchList';
import { TaskErrorTabs } from './errortab';
import { tramwayIcon } from './icon';

/** Poll every 2 s while a batch is active, every 10 s otherwise; back off on errors. */
const ACTIVE_INTERVAL = 2000;
const IDLE_INTERVAL = 10000;
const MAX_INTERVAL = 60 * 1000;

export class TramwaySidebar extends Widget {
  constructor(options: TramwaySidebar.IOptions) {
    super();
    this.id = TramwaySidebar.ID;
    this.addClass('jp-TramwaySidebar');
    this.title.icon = tramwayIcon;
    this.title.caption = 'TRamWAy jobs';
    this.model = new BatchesModel();
    const layout = (this.layout = new PanelLayout());
    const errorTabs = new TaskErrorTabs(options.shell);
    const view = ReactWidget.create(
      React.createElement(BatchList, {
        model: this.model,
        actions: {
          ...options.actions,
          openTaskError: (batchId: string, taskId: string) =>
            errorTabs.open(batchId, taskId)
        },
        onRefresh: () => void this._poll.refresh(),
        currentNotebook: options.currentNotebook
      })
    );
    view.addClass('jp-TramwaySidebar-content');
    layout.addWidget(view);
    this._poll = new Poll({
      factory: () => this._tick(),
      frequency: { interval: IDLE_INTERVAL, backoff: true, max: MAX_INTERVAL },
      standby: 'when-hidden',
      name: 'tramway-jupyter:batches'
    });
  }

  readonly model: BatchesModel;

  /** Refresh now (after an action, or when a batch was just started). */
  refresh(): Promise<void> {
    return this._poll.refresh();
  }

  /** Expand the batch and scroll to it, now and again once refreshed (it may be new). The
   * caller activates the panel itself, through the shell. */
  reveal(batchId: string): void {
    this.model.reveal(batchId);
    void this._poll
      .refresh()
      .then(() => this._poll.tick)
      .then(() => this.model.reveal(batchId));
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._poll.dispose();
    super.dispose();
  }

  private async _tick(): Promise<void> {
    await this.model.refresh();
    const interval = this.model.anyActive ? ACTIVE_INTERVAL : IDLE_INTERVAL;
    if (this._poll.frequency.interval !== interval) {
      this._poll.frequency = { ...this._poll.frequency, interval };
    }
  }

  private _poll: Poll;
}

export namespace TramwaySidebar {
  export const ID = 'tramway-jobs';

  export interface IOptions {
    /** What the batch buttons do (the error tabs are the sidebar's own). */
    actions: Omit<IBatchActions, 'openTaskError'>;
    /** Where a task's error and log open, in the 'main' area. */
    shell: JupyterFrontEnd.IShell;
    /** The path of the Lab's current notebook (the Run form's default), if any. */
    currentNotebook: () => string | null;
  }
}
