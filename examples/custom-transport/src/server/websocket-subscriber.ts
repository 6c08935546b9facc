import type { CursorVersion } from '@eventsync/core';
import { encodeStreamBatch } from '@eventsync/http';
import type { DisconnectReason, EventBatch, Subscriber, SubscriberLink } from '@eventsync/server';
import { WebSocket } from 'ws';
import type { EndMessage, HeartbeatMessage } from '../protocol/messages.js';

/**
 * The body of each batch as JSON, made once however many subscribers get it: the broker hands
 * subscribers woken together at one cursor the same batch object.
 */
const batchBodies = new WeakMap<EventBatch, string>();

/**
 * One subscription of a socket, as the server package's `Broker` drives it: the broker owns the
 * cursor, reads the log and decides when to give up; this only writes `events` and `heartbeat`
 * messages with the subscription's id to the socket and reports back. Several subscriptions may share
 * one socket.
 *
 * `backlog` counts the messages `ws` has not yet written to the network: past the broker's
 * `maxQueuedBatches` the subscription is ended as `slow`, and the client subscribes again from its
 * cursor.
 */
export class WebSocketSubscriber implements Subscriber {
  /** The id the client subscribed with; every message of this subscription carries it. */
  readonly id: number;
  readonly #socket: WebSocket;
  readonly #onEnded: () => void;
  #link: SubscriberLink | undefined;
  #backlog = 0;
  #opened = false;
  #ended = false;
  #cancelled = false;

  /**
   * @param onEnded - told once, when the subscription ends, whatever ended it.
   */
  constructor(id: number, socket: WebSocket, onEnded: () => void) {
    this.id = id;
    this.#socket = socket;
    this.#onEnded = onEnded;
  }

  /** Messages handed to the socket and not yet written out. */
  get backlog(): number {
    return this.#backlog;
  }

  /** Keeps the link to the broker. */
  attach(link: SubscriberLink): void {
    this.#link = link;
  }

  /** Sends the opening message: no events, and the cursor the subscription starts after. */
  open(cursor: CursorVersion): void {
    this.#opened = true;
    this.#write(`{"type":"events","id":${this.id},"body":{"events":[],"cursor":"${cursor.toString()}"}}`, false);
  }

  /** Sends one batch. */
  deliver(batch: EventBatch): void {
    let body = batchBodies.get(batch);
    if (body === undefined) {
      body = JSON.stringify(encodeStreamBatch(batch));
      batchBodies.set(batch, body);
    }
    this.#write(`{"type":"events","id":${this.id},"body":${body}}`, true);
  }

  /** Sends a heartbeat, so the client knows the socket is alive though the subscription is quiet. */
  heartbeat(): void {
    const message: HeartbeatMessage = { type: 'heartbeat', id: this.id };
    this.#write(JSON.stringify(message), false);
  }

  /**
   * Ends the subscription. Unless the client asked for it (or the socket is gone), tells the client
   * with an `end` message, so it subscribes again from its cursor.
   */
  close(reason: DisconnectReason): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#onEnded();
    if (this.#cancelled || !this.#opened || this.#socket.readyState !== WebSocket.OPEN) return;
    const message: EndMessage = { type: 'end', id: this.id, reason };
    this.#socket.send(JSON.stringify(message));
  }

  /** The client unsubscribed, or its socket closed: the broker ends the subscription as `closed`. */
  cancel(): void {
    this.#cancelled = true;
    this.#link?.closed();
  }

  #write(text: string, isBatch: boolean): void {
    if (this.#socket.readyState !== WebSocket.OPEN) {
      this.#link?.closed();
      return;
    }
    this.#backlog++;
    this.#socket.send(text, (error) => {
      this.#backlog--;
      if (this.#ended) return;
      if (error) this.#link?.failed(error);
      else if (isBatch) this.#link?.delivered();
      else this.#link?.ready();
    });
  }
}
