import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';

import { cancelBatch, getTaskNotebook, retryBatch } from './api';
import { TramwaySidebar } from './sidebar';
import { IBatch } from './types';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'tramway-jupyter:sidebar',
  description: 'A left sidebar listing tramway-jupyter batches.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    restorer: ILayoutRestorer | null
  ) => {
    const sidebar: TramwaySidebar = new TramwaySidebar({
      shell: app.shell,
      actions: {
        cancel: async (batch: IBatch) => {
          const ok = await showDialog({
            title: 'Cancel batch',
            body: `Cancel the unfinished jobs of "${batch.name || batch.batch_id}"?`,
            buttons: [
              Dialog.cancelButton({ label: 'Keep running' }),
              Dialog.warnButton({ label: 'Cancel jobs' })
            ]
          });
          if (!ok.button.accept) {
            return;
          }
          try {
            await cancelBatch(batch.batch_id);
          } catch (reason) {
            await showErrorMessage('Cancel failed', String(reason));
          }
          await sidebar.refresh();
        },
        retry: async (batch: IBatch) => {
          try {
            await retryBatch(batch.batch_id);
          } catch (reason) {
            await showErrorMessage('Retry failed', String(reason));
          }
          await sidebar.refresh();
        },
        openNotebook: async (batchId: string, taskId: string) => {
          try {
            const { path } = await getTaskNotebook(batchId, taskId);
            await app.commands.execute('docmanager:open', { path });
          } catch (reason) {
            await showErrorMessage(
              'Cannot open the output notebook',
              String(reason)
            );
          }
        }
      }
    });
    labShell.add(sidebar, 'left', { rank: 650 });
    if (restorer) {
      restorer.add(sidebar, TramwaySidebar.ID);
    }
  }
};

export default plugin;
