import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { Widget } from '@lumino/widgets';

import { cancelBatch, deleteBatch, getTaskNotebook, retryBatch } from './api';
import { BatchNotifier } from './notifications';
import { PromptPoller } from './prompts';
import { TramwaySidebar } from './sidebar';
import { IBatch } from './types';

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'tramway-jupyter:sidebar',
  description: 'A left sidebar listing tramway-jupyter batches.',
  autoStart: true,
  requires: [ILabShell],
  optional: [ILayoutRestorer, ISettingRegistry],
  activate: (
    app: JupyterFrontEnd,
    labShell: ILabShell,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null
  ) => {
    const sidebar: TramwaySidebar = new TramwaySidebar({
      shell: app.shell,
      currentNotebook: () => {
        // a document widget (duck-typed: no dependency on @jupyterlab/notebook)
        const widget = labShell.currentWidget as
          (Widget & { context?: { path?: unknown } }) | null;
        const path = widget?.context?.path;
        return typeof path === 'string' && path.endsWith('.ipynb')
          ? path
          : null;
      },
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
        cancelJob: async (batchId: string, jobIndex: number) => {
          try {
            await cancelBatch(batchId, [jobIndex]);
          } catch (reason) {
            await showErrorMessage('Cancel failed', String(reason));
          }
          await sidebar.refresh();
        },
        delete: async (batch: IBatch) => {
          const ok = await showDialog({
            title: 'Delete batch',
            body: `Delete "${batch.name || batch.batch_id}"? Its unfinished jobs are cancelled and it leaves the list.`,
            buttons: [
              Dialog.cancelButton({ label: 'Keep' }),
              Dialog.warnButton({ label: 'Delete' })
            ]
          });
          if (!ok.button.accept) {
            return;
          }
          try {
            await deleteBatch(batch.batch_id);
          } catch (reason) {
            await showErrorMessage('Delete failed', String(reason));
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
    // logins the server needs (a one-time code, a passphrase) are asked here
    new PromptPoller();
    const notifier = new BatchNotifier({
      reveal: (batchId: string) => {
        labShell.activateById(TramwaySidebar.ID);
        sidebar.reveal(batchId);
      },
      onEvents: () => void sidebar.refresh()
    });
    if (settingRegistry) {
      settingRegistry
        .load(plugin.id)
        .then(settings => {
          const apply = () => {
            notifier.enabled =
              settings.get('notifications').composite !== false;
          };
          apply();
          settings.changed.connect(apply);
        })
        .catch(reason => {
          console.warn('tramway-jupyter: cannot read the settings', reason);
          notifier.enabled = true;
        });
    } else {
      notifier.enabled = true;
    }
  }
};

export default plugin;
