/**
 * Main-area tabs that show a task's whole error and its log: one tab per task, opened again
 * it is activated (and reloaded) instead of duplicated.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { MainAreaWidget } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import React from 'react';

import { TaskErrorView } from './components/TaskErrorView';
import { tramwayIcon } from './icon';

class TaskErrorContent extends ReactWidget {
  constructor(
    readonly batchId: string,
    readonly taskId: string
  ) {
    super();
    this.addClass('jp-TramwayErrorTab-content');
  }

  /** Fetch the error and the log again. */
  reload(): void {
    this._version += 1;
    this.update();
  }

  protected render(): JSX.Element {
    return React.createElement(TaskErrorView, {
      batchId: this.batchId,
      taskId: this.taskId,
      version: this._version
    });
  }

  private _version = 0;
}

export class TaskErrorTabs {
  constructor(private readonly _shell: JupyterFrontEnd.IShell) {}

  /** Show the task's error and log in a main-area tab (the existing one if it is open). */
  open(batchId: string, taskId: string): void {
    const key = `${batchId}\u0000${taskId}`;
    let widget = this._tabs.get(key);
    if (widget && !widget.isDisposed) {
      widget.content.reload();
    } else {
      widget = new MainAreaWidget({
        content: new TaskErrorContent(batchId, taskId)
      });
      widget.id = `tramway-task-error-${TaskErrorTabs._count++}`;
      widget.title.label = taskId;
      widget.title.caption = `Error and log of task ${taskId} (batch ${batchId})`;
      widget.title.icon = tramwayIcon;
      widget.title.closable = true;
      widget.disposed.connect(() => this._tabs.delete(key));
      this._tabs.set(key, widget);
      this._shell.add(widget, 'main');
    }
    this._shell.activateById(widget.id);
  }

  private _tabs = new Map<string, MainAreaWidget<TaskErrorContent>>();
  private static _count = 0;
}
