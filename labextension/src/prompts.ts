/**
 * Login prompts in Lab: when the server needs a one-time code or a key's passphrase to reach a
 * cluster (its refresher, an action of the sidebar), it posts a prompt; this poller shows each
 * one in a dialog (masked inputs for the codes and passphrases) and hands the answers back. The
 * answers go to the waiting login in memory only: nothing is stored in the page either.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Poll } from '@lumino/polling';
import { Widget } from '@lumino/widgets';

import { answerPrompt, listPrompts } from './api';
import { IPrompt } from './types';

/** Poll every 2 s: a login waits for these answers. Back off on errors up to 60 s. */
const INTERVAL = 2 * 1000;
const MAX_INTERVAL = 60 * 1000;

/** The dialog's body: one labelled input per question (password when it must not echo). */
class PromptBody extends Widget implements Dialog.IBodyWidget<string[]> {
  constructor(prompt: IPrompt) {
    super();
    this.addClass('tj-PromptBody');
    const intro = document.createElement('p');
    // the dialog's title names the host already: say only what the title adds
    const where = prompt.where;
    const detail =
      where && prompt.title.startsWith(where)
        ? prompt.title.slice(where.length).replace(/^[:\s]+/, '')
        : prompt.title;
    const profile = prompt.profile ? `profile ${prompt.profile}` : '';
    intro.textContent =
      [detail, profile].filter(Boolean).join(' · ') || 'The cluster asks:';
    this.node.appendChild(intro);
    for (const field of prompt.prompts) {
      const label = document.createElement('label');
      label.textContent = field.text;
      const input = document.createElement('input');
      input.type = field.echo ? 'text' : 'password';
      input.autocomplete = field.echo ? 'on' : 'one-time-code';
      input.className = 'jp-mod-styled';
      label.appendChild(input);
      this.node.appendChild(label);
      this._inputs.push(input);
    }
  }

  getValue(): string[] {
    return this._inputs.map(input => input.value);
  }

  /** Empty the inputs once answered (the secret does not linger in the DOM). */
  clear(): void {
    for (const input of this._inputs) {
      input.value = '';
    }
  }

  private _inputs: HTMLInputElement[] = [];
}

/** Shows the server's pending login prompts, one dialog at a time. */
export class PromptPoller {
  constructor() {
    this._poll = new Poll({
      factory: () => this._tick(),
      frequency: { interval: INTERVAL, backoff: true, max: MAX_INTERVAL },
      standby: 'when-hidden',
      name: 'tramway-jupyter:prompts'
    });
  }

  dispose(): void {
    this._poll.dispose();
  }

  private async _tick(): Promise<void> {
    if (this._showing) {
      return;
    }
    const { prompts } = await listPrompts();
    const next = prompts.find(p => !this._done.has(p.id));
    if (next) {
      this._showing = true;
      void this._ask(next).finally(() => {
        this._showing = false;
      });
    }
  }

  private async _ask(prompt: IPrompt): Promise<void> {
    this._done.add(prompt.id);
    const body = new PromptBody(prompt);
    const result = await showDialog({
      title: `Log in to ${prompt.where || prompt.profile}`,
      body,
      buttons: [
        Dialog.cancelButton({ label: 'Cancel' }),
        Dialog.okButton({ label: 'Log in' })
      ],
      focusNodeSelector: 'input'
    });
    const answers = result.button.accept ? result.value : null;
    body.clear();
    try {
      await answerPrompt(prompt.id, answers);
    } catch (reason) {
      // the login timed out or was answered elsewhere: the next one asks again
      console.warn('tramway-jupyter: the login prompt is gone', reason);
    }
  }

  private _poll: Poll;
  private _done = new Set<string>();
  private _showing = false;
}
