// The code every test and benchmark page carries: the store and its helpers, on `window.eventsyncPage`.

import * as core from '@eventsync/core';
import * as idb from '../../src/index.js';

const eventsyncPage = { core, idb };

export type EventsyncPage = typeof eventsyncPage;

declare global {
  interface Window {
    eventsyncPage: EventsyncPage;
  }
}

window.eventsyncPage = eventsyncPage;
