//! The one way components and handlers talk to clients: answer a request,
//! send an event to one connection, broadcast to many, or ask for an effect.
//! Every frame goes through the connection's own accounting (seq, slow
//! consumer, sticky close) and lands in the hub's output queue in order.

use std::collections::VecDeque;

use serde::Serialize;

use super::connections::Connections;
use super::registry::{may_receive, EventSpec};
use super::{Effect, Output};
use crate::server::Session;
use crate::wire::{encode_event, ErrorShape, StateVersion};
use crate::ConnId;

pub(crate) struct Outbox<'a> {
    pub(crate) conns: &'a mut Connections,
    pub(crate) out: &'a mut VecDeque<Output>,
    pub(crate) buf: &'a mut Vec<u8>,
    /// The versions stamped on `presence`/`health` broadcasts and snapshots.
    pub(crate) state_version: &'a mut StateVersion,
}

impl Outbox<'_> {
    /// Answer request `id` of `conn` with `payload`.
    pub(crate) fn respond_ok<T: Serialize + ?Sized>(
        &mut self,
        conn: ConnId,
        id: &str,
        payload: &T,
    ) {
        if let Some(entry) = self.conns.get_mut(conn) {
            entry.conn.respond_ok(id, payload, self.buf);
        }
        self.conns.sync(conn, self.out);
    }

    /// Answer request `id` of `conn` with `error` (its code mapped to the
    /// connection's protocol).
    pub(crate) fn respond_error(&mut self, conn: ConnId, id: &str, error: &ErrorShape) {
        if let Some(entry) = self.conns.get_mut(conn) {
            entry.conn.respond_error(id, error, self.buf);
        }
        self.conns.sync(conn, self.out);
    }

    /// Answer request `id` of `conn` with `error` and a payload beside it.
    pub(crate) fn respond_error_with<T: Serialize + ?Sized>(
        &mut self,
        conn: ConnId,
        id: &str,
        error: &ErrorShape,
        payload: &T,
    ) {
        if let Some(entry) = self.conns.get_mut(conn) {
            entry
                .conn
                .respond_error_with(id, error, Some(payload), self.buf);
        }
        self.conns.sync(conn, self.out);
    }

    /// Send `event` to every authenticated connection allowed to receive it
    /// (its scope) for which `filter` holds. Encoded once; each copy gets the
    /// connection's next seq. Connections filtered out use no seq; slow ones
    /// skip a droppable event (using a seq) or are closed "slow consumer".
    /// `versioned` events carry the current state version.
    pub(crate) fn broadcast<T: Serialize + ?Sized>(
        &mut self,
        event: &EventSpec,
        payload: &T,
        versioned: bool,
        filter: impl Fn(&Session) -> bool,
    ) {
        let state_version = versioned.then_some(*self.state_version);
        let body = encode_event(self.buf, event.name, Some(payload), state_version, true);
        for (id, entry) in self.conns.iter_mut() {
            let Some(session) = entry.conn.session() else {
                continue;
            };
            if !may_receive(event, session.scopes) || !filter(&session) {
                continue;
            }
            // Drops and slow-consumer closes are the connection's own business
            // (it counts its drops; a close comes out as its Close output).
            let _ = entry.conn.send_broadcast(&body, event.droppable);
            super::connections::drain(self.out, id, &mut entry.conn);
        }
    }

    /// Send `event` to `conn` alone, without seq (node-targeted events).
    /// Never dropped: a node too slow to take it is closed "slow consumer".
    pub(crate) fn send_event<T: Serialize + ?Sized>(
        &mut self,
        conn: ConnId,
        event: &EventSpec,
        payload: &T,
    ) {
        if let Some(entry) = self.conns.get_mut(conn) {
            if entry.conn.is_authenticated() {
                let body = encode_event(self.buf, event.name, Some(payload), None, false);
                let _ = entry.conn.send_direct(crate::wire::OutFrame::whole(body));
            }
        }
        self.conns.sync(conn, self.out);
    }

    /// Send `event` (with each connection's next seq) to the connections of
    /// `to` that are authenticated and allowed to receive it: the
    /// reference's targeted broadcast (`broadcastToConnIds`).
    pub(crate) fn broadcast_to<T: Serialize + ?Sized>(
        &mut self,
        event: &EventSpec,
        payload: &T,
        to: &[ConnId],
    ) {
        if to.is_empty() {
            return;
        }
        let body = encode_event(self.buf, event.name, Some(payload), None, true);
        for &id in to {
            let Some(entry) = self.conns.get_mut(id) else {
                continue;
            };
            let Some(session) = entry.conn.session() else {
                continue;
            };
            if !may_receive(event, session.scopes) {
                continue;
            }
            let _ = entry.conn.send_broadcast(&body, event.droppable);
            super::connections::drain(self.out, id, &mut entry.conn);
        }
    }

    /// Hand an effect to the runtime.
    pub(crate) fn effect(&mut self, effect: Effect) {
        self.out.push_back(Output::Effect(effect));
    }
}
