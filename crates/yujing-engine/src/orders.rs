//! The work-order stage: warnings open and drive work orders; operators' commands and supervision add events.
//!
//! Every decision is written to the `workorders` topic (and its outbox entry) in one atomic batch, together with
//! how far into `warnings` the stage has read; the orders in memory are the fold of the `workorders` topic, so
//! opening the stage again rebuilds them exactly.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yujing_log::{Batch, Log, LogError, Offset, Record};
use yujing_model::{
    Actor, DisputeSubject, FeedId, GeoPoint, RiskFlag, Warning, WarningLevel, WorkOrderEvent,
};
use yujing_workorder::{Command, CommandError, Policy, WorkOrder};

use crate::outbox::{EventScope, OutboxEvent};
use crate::read::{decode, decoded_below, for_each_decoded, for_each_entry, read_at, ReadError};
use crate::topics::{LINKS, WARNINGS, WORKORDERS};

/// How far into `warnings` the stage has read.
const WARNINGS_READ_KEY: &[u8] = b"orders/warnings";

/// A failure of the work-order stage.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No order has this id.
    #[error("there is no work order {0}")]
    Unknown(String),
    /// The command was refused.
    #[error(transparent)]
    Refused(#[from] CommandError),
    /// Reading the log failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Writing the log failed.
    #[error(transparent)]
    Log(#[from] LogError),
    /// An event could not be encoded (a bug).
    #[error("encoding a work-order event: {0}")]
    Encode(#[from] serde_json::Error),
    /// The log did not say where each append went (a bug of the log).
    #[error("the log returned {returned} offsets for a batch of {appended} appends")]
    Offsets {
        /// Appends in the batch.
        appended: usize,
        /// Offsets the log returned.
        returned: usize,
    },
}

/// What the work-order stage keeps of a warning: all of it but its evidence, and where it is in `warnings`, so
/// the whole warning is read back from the log when someone asks for it ([`OrderStage::warning`]). The
/// evidence (every counted report: ids, times, matched features, scores) is most of a warning's size, and the
/// stage holds every warning of the history: a province's year is hundreds of thousands of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WarningSummary {
    /// [`Warning::warning_id`].
    pub warning_id: String,
    /// [`Warning::cluster_id`].
    pub cluster_id: String,
    /// [`Warning::level`].
    pub level: WarningLevel,
    /// [`Warning::rule`].
    pub rule: String,
    /// [`Warning::raised_at`].
    pub raised_at: DateTime<Utc>,
    /// [`Warning::occurrences`].
    pub occurrences: u32,
    /// [`Warning::window_days`].
    pub window_days: u32,
    /// [`Warning::feeds`].
    pub feeds: Vec<FeedId>,
    /// [`Warning::reporters`].
    pub reporters: u32,
    /// [`Warning::episode`].
    pub episode: u32,
    /// [`Warning::risk_flags`].
    pub risk_flags: std::collections::BTreeSet<RiskFlag>,
    /// [`Warning::subject`].
    pub subject: DisputeSubject,
    /// [`Warning::location`].
    pub location: Option<GeoPoint>,
    /// When the first counted report happened (the evidence's first).
    pub first_report: Option<DateTime<Utc>>,
    /// When the last counted report happened (the evidence's last).
    pub last_report: Option<DateTime<Utc>>,
    /// Where the warning is in `warnings`.
    pub offset: Offset,
}

impl WarningSummary {
    /// The summary of `warning`, read at `offset` of `warnings`.
    pub fn of(warning: &Warning, offset: Offset) -> WarningSummary {
        WarningSummary {
            warning_id: warning.warning_id.clone(),
            cluster_id: warning.cluster_id.clone(),
            level: warning.level,
            rule: warning.rule.clone(),
            raised_at: warning.raised_at,
            occurrences: warning.occurrences,
            window_days: warning.window_days,
            feeds: warning.feeds.clone(),
            reporters: warning.reporters,
            episode: warning.episode,
            risk_flags: warning.risk_flags.clone(),
            subject: warning.subject.clone(),
            location: warning.location,
            first_report: warning.evidence.first().map(|e| e.occurred_at),
            last_report: warning.evidence.last().map(|e| e.occurred_at),
            offset,
        }
    }
}

/// What the work-order stage reads of a [`yujing_model::CorrelationEvent`]: whether it is a merge, and its two
/// clusters. A plain struct, so that a link's other fields are skipped unread: decoding the event whole (it is
/// tagged internally) buffers each one first, and a bulk load's `links` are a million events, nearly all of them
/// links, which the stage does not use (docs/PERFORMANCE.md, stop 43).
#[derive(Deserialize)]
struct LinkHead<'a> {
    event: LinkKind,
    #[serde(borrow, default)]
    cluster_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow, default)]
    merged: Option<std::borrow::Cow<'a, str>>,
}

/// The kinds of [`yujing_model::CorrelationEvent`], by their tag.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum LinkKind {
    Linked,
    Merged,
}

/// The work orders, their histories, and the warnings they came from.
pub struct OrderStage {
    policy: Policy,
    orders: BTreeMap<String, WorkOrder>,
    /// Order ids in the order raised.
    raised: Vec<String>,
    /// Each order's events as their offsets in `workorders`, in order: the audit trail is read back from the log
    /// when asked for ([`OrderStage::history`]), as the orders' state is all the stage decides by.
    history: HashMap<String, Vec<Offset>>,
    /// Every warning read, by id, without its evidence.
    warnings: BTreeMap<String, WarningSummary>,
    /// Cluster → the cluster it was merged into.
    merged_into: HashMap<String, String>,
    /// Cluster → the clusters merged into it (the reverse of `merged_into`).
    absorbed: HashMap<String, Vec<String>>,
    /// The cluster an order was opened about → the order's positions in `raised`: finding a dispute's orders
    /// costs the size of the dispute, not the number of orders.
    by_cluster: HashMap<String, Vec<usize>>,
    links_read: Offset,
    warnings_read: Offset,
    stale: bool,
}

/// What a snapshot keeps of the [`OrderStage`]: every order as its events left it (in the order the orders
/// were raised), each order's events as offsets, the warnings read (summaries), the merges of clusters, and how
/// far into each topic the stage had read.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct OrderSnapshot {
    orders: Vec<WorkOrder>,
    /// Each order's events' offsets in `workorders`, in the order of `orders`, then those of events whose
    /// order was never raised (none in a store yujing wrote), by order id.
    histories: Vec<(String, Vec<Offset>)>,
    warnings: Vec<WarningSummary>,
    merged_into: Vec<(String, String)>,
    absorbed: Vec<(String, Vec<String>)>,
    links_read: Offset,
    warnings_read: Offset,
    /// The `workorders` end the histories cover.
    workorders_read: Offset,
}

impl OrderStage {
    /// Rebuilds the stage from the log.
    pub fn open<L: Log + ?Sized>(log: &L, policy: Policy) -> Result<OrderStage, OrderError> {
        OrderStage::resume(log, policy, OrderSnapshot::default())
    }

    /// The stage `snapshot` holds, brought up to date with the log after it: the work-order events,
    /// warnings and correlation events written since.
    pub(crate) fn resume<L: Log + ?Sized>(
        log: &L,
        policy: Policy,
        snapshot: OrderSnapshot,
    ) -> Result<OrderStage, OrderError> {
        let warnings_read = match log.state(WARNINGS_READ_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)?,
            None => 0,
        };
        let mut stage = OrderStage {
            policy,
            orders: BTreeMap::new(),
            raised: Vec::new(),
            history: HashMap::new(),
            warnings: BTreeMap::new(),
            merged_into: snapshot.merged_into.into_iter().collect(),
            absorbed: snapshot.absorbed.into_iter().collect(),
            by_cluster: HashMap::new(),
            links_read: snapshot.links_read,
            warnings_read,
            stale: false,
        };
        // Taking the orders in the order they were raised rebuilds `raised` (and the positions that index it)
        // as the log's order did.
        let mut orders = Vec::with_capacity(snapshot.orders.len());
        for order in snapshot.orders {
            stage.index_raised(&order);
            orders.push((order.order_id.clone(), order));
        }
        // Built from all the entries at once rather than inserted one by one: `BTreeMap` then sorts them and
        // fills its nodes, where inserts in the orders' (random) id order leave each node about a third empty
        // (measured: 16.6 MB of nodes for the 28,618 orders and warnings of the dense 60-day store). A key
        // given twice keeps its last value, as inserting it twice would.
        stage.orders = orders.into_iter().collect();
        stage.history = snapshot.histories.into_iter().collect();
        stage.warnings = snapshot
            .warnings
            .into_iter()
            .map(|summary| (summary.warning_id.clone(), summary))
            .collect();
        let mut events = Vec::new();
        for_each_decoded(
            log,
            WORKORDERS,
            snapshot.workorders_read,
            |offset, event: WorkOrderEvent| events.push((offset, event)),
        )?;
        for (offset, event) in &events {
            stage.fold(event);
            stage.record(event, *offset);
        }
        // Warnings written after what the stage had read are read by its next advance.
        let warnings: Vec<(Offset, Warning)> =
            decoded_below(log, WARNINGS, snapshot.warnings_read, warnings_read)?;
        for (offset, warning) in &warnings {
            stage.remember(warning, *offset);
        }
        stage.read_links(log)?;
        Ok(stage)
    }

    /// What a snapshot keeps of the stage, `workorders_end` being the end of `workorders` it has applied
    /// (the whole topic: the stage applies every event it writes).
    pub(crate) fn snapshot(&self, workorders_end: Offset) -> OrderSnapshot {
        let orders: Vec<WorkOrder> = self
            .raised
            .iter()
            .filter_map(|id| self.orders.get(id).cloned())
            .collect();
        let mut histories: Vec<(String, Vec<Offset>)> = self
            .raised
            .iter()
            .filter_map(|id| self.history.get(id).map(|h| (id.clone(), h.clone())))
            .collect();
        // Events of an order whose raising event was never read (none in a store yujing wrote) come after.
        let mut orphans: Vec<(String, Vec<Offset>)> = self
            .history
            .iter()
            .filter(|(id, _)| !self.orders.contains_key(*id))
            .map(|(id, h)| (id.clone(), h.clone()))
            .collect();
        orphans.sort_by(|a, b| a.0.cmp(&b.0));
        histories.extend(orphans);
        OrderSnapshot {
            orders,
            histories,
            warnings: self.warnings.values().cloned().collect(),
            merged_into: self
                .merged_into
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect(),
            absorbed: self
                .absorbed
                .iter()
                .map(|(a, b)| (a.clone(), b.clone()))
                .collect(),
            links_read: self.links_read,
            warnings_read: self.warnings_read,
            workorders_read: workorders_end,
        }
    }

    /// The policy (routing, deadlines, calendar).
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Folds `event` into its order (opening it on its raising event).
    fn fold(&mut self, event: &WorkOrderEvent) {
        match self.orders.get_mut(&event.order_id) {
            Some(order) => order.apply(event),
            None => {
                if let Some(order) = WorkOrder::from_first(event) {
                    self.insert_raised(order);
                }
            }
        }
    }

    /// Adds a newly raised order.
    fn insert_raised(&mut self, order: WorkOrder) {
        self.index_raised(&order);
        self.orders.insert(order.order_id.clone(), order);
    }

    /// Records `order` as the next raised (its position in `raised`, under its dispute), not yet in `orders`.
    fn index_raised(&mut self, order: &WorkOrder) {
        self.by_cluster
            .entry(order.subject.cluster_id.clone())
            .or_default()
            .push(self.raised.len());
        self.raised.push(order.order_id.clone());
    }

    /// Adds `events`, written at `offsets` of `workorders`, to their orders' trails.
    fn record_all(&mut self, events: &[WorkOrderEvent], offsets: Vec<Offset>) {
        for (event, offset) in events.iter().zip(offsets) {
            self.record(event, offset);
        }
    }

    /// Adds `event`, at `offset` of `workorders`, to its order's trail.
    fn record(&mut self, event: &WorkOrderEvent, offset: Offset) {
        match self.history.get_mut(&event.order_id) {
            Some(offsets) => offsets.push(offset),
            None => {
                self.history.insert(event.order_id.clone(), vec![offset]);
            }
        }
    }

    /// Reads the correlation events written since the last call, following the merges of clusters; returns
    /// the clusters kept by the new merges.
    fn read_links<L: Log + ?Sized>(&mut self, log: &L) -> Result<Vec<String>, OrderError> {
        let mut next = self.links_read;
        let mut merges = Vec::new();
        for_each_entry(log, LINKS, self.links_read, |entry| {
            next = entry.offset + 1;
            let head: LinkHead<'_> = decode(LINKS, entry)?;
            if let LinkKind::Merged = head.event {
                let (Some(kept), Some(merged)) = (head.cluster_id, head.merged) else {
                    return Err(ReadError::Decode {
                        topic: LINKS.to_owned(),
                        offset: entry.offset,
                        reason: "a merge without its two clusters".to_owned(),
                    });
                };
                merges.push((merged.into_owned(), kept.into_owned()));
            }
            Ok(())
        })?;
        let mut kept_clusters = Vec::new();
        for (merged, kept) in merges {
            self.absorbed
                .entry(kept.clone())
                .or_default()
                .push(merged.clone());
            self.merged_into.insert(merged, kept.clone());
            kept_clusters.push(kept);
        }
        self.links_read = next;
        Ok(kept_clusters)
    }

    /// When correlation found that two clusters are one dispute and each already had an open order, the
    /// dispute now has two: the newer ones are merged into the oldest open one (the centre's unit acting),
    /// so one dispute is handled, supervised and closed once. Returns the events, applied in memory.
    fn merge_orders_of_merged_clusters(
        &mut self,
        kept: &[String],
        now: DateTime<Utc>,
    ) -> Vec<WorkOrderEvent> {
        let system = Actor::system(&self.policy.config.centre_unit);
        let mut events = Vec::new();
        for cluster in kept {
            let open: Vec<String> = self
                .positions_of_dispute(cluster)
                .into_iter()
                .map(|i| self.raised[i].clone())
                .filter(|id| self.orders.get(id).is_some_and(|o| !o.status.is_final()))
                .collect();
            let Some((into_id, newer)) = open.split_first() else {
                continue;
            };
            for order_id in newer {
                let command = Command::Merge {
                    into_order_id: into_id.clone(),
                };
                let reason =
                    format!("同一纠纷：聚类 {cluster} 合并了两条线索链 (clusters of one dispute merged)");
                let Ok(decided) = self.decide(order_id, &command, &system, Some(&reason), now) else {
                    continue;
                };
                for event in &decided {
                    self.fold(event);
                }
                events.extend(decided);
            }
        }
        events
    }

    /// The cluster `cluster_id` is part of now (following merges).
    fn current_cluster<'a>(&'a self, mut cluster_id: &'a str) -> &'a str {
        for _ in 0..64 {
            match self.merged_into.get(cluster_id) {
                Some(into) if into != cluster_id => cluster_id = into,
                _ => break,
            }
        }
        cluster_id
    }

    /// The positions in `raised` of the orders about the dispute `cluster_id` belongs to, oldest first: the
    /// orders of its current cluster and of every cluster merged into it.
    fn positions_of_dispute(&self, cluster_id: &str) -> Vec<usize> {
        let root = self.current_cluster(cluster_id);
        let mut seen = std::collections::HashSet::new();
        let mut queue = vec![root];
        let mut positions = Vec::new();
        while let Some(cluster) = queue.pop() {
            if !seen.insert(cluster) {
                continue;
            }
            // A cluster merged into `cluster` once may since have been merged elsewhere: only those that still
            // lead to the root count.
            if self.current_cluster(cluster) != root {
                continue;
            }
            if let Some(found) = self.by_cluster.get(cluster) {
                positions.extend(found.iter().copied());
            }
            if let Some(merged) = self.absorbed.get(cluster) {
                queue.extend(merged.iter().map(String::as_str));
            }
        }
        positions.sort_unstable();
        positions
    }

    /// The most recent order about the dispute `cluster_id` belongs to.
    fn order_of_cluster(&self, cluster_id: &str) -> Option<&WorkOrder> {
        self.positions_of_dispute(cluster_id)
            .last()
            .and_then(|&i| self.orders.get(&self.raised[i]))
    }

    fn append_and_write<L: Log + ?Sized>(
        &self,
        log: &L,
        events: &[WorkOrderEvent],
        mut batch: Batch,
        now: DateTime<Utc>,
    ) -> Result<Vec<Offset>, OrderError> {
        let now_ms = now.timestamp_millis();
        let scopes = self.scopes_after(events);
        let mut appends = Vec::with_capacity(events.len());
        for (event, scope) in events.iter().zip(scopes) {
            appends.push(batch.append(
                WORKORDERS,
                Record {
                    key: event.order_id.clone().into_bytes(),
                    value: serde_json::to_vec(event)?,
                    timestamp_ms: now_ms,
                },
            ));
            OutboxEvent::work_order(event, scope)?.append_to(&mut batch, now_ms)?;
        }
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let appended = batch.appends();
        let offsets = log.write(batch)?;
        appends
            .into_iter()
            .map(|i| {
                offsets.get(i).copied().ok_or(OrderError::Offsets {
                    appended,
                    returned: offsets.len(),
                })
            })
            .collect()
    }

    /// The feed scope of each of `events`: its order's town and unit once the event is applied, from copies of
    /// the orders folded here (the events are written before the stage applies them).
    fn scopes_after(&self, events: &[WorkOrderEvent]) -> Vec<Option<EventScope>> {
        let mut after: HashMap<&str, WorkOrder> = HashMap::new();
        events
            .iter()
            .map(|event| {
                let order = match after.remove(event.order_id.as_str()) {
                    Some(mut order) => {
                        order.apply(event);
                        Some(order)
                    }
                    None => match self.order(&event.order_id) {
                        Some(known) => {
                            let mut order = known.clone();
                            order.apply(event);
                            Some(order)
                        }
                        None => WorkOrder::from_first(event),
                    },
                }?;
                let scope = EventScope::of_order(&order);
                after.insert(event.order_id.as_str(), order);
                Some(scope)
            })
            .collect()
    }

    /// Writes `events` and then applies them: memory never runs ahead of the log.
    fn write<L: Log + ?Sized>(
        &mut self,
        log: &L,
        events: Vec<WorkOrderEvent>,
        now: DateTime<Utc>,
    ) -> Result<Vec<WorkOrderEvent>, OrderError> {
        let offsets = self.append_and_write(log, &events, Batch::new(), now)?;
        for event in &events {
            self.fold(event);
        }
        self.record_all(&events, offsets);
        Ok(events)
    }

    /// Reads the warnings written since the last call: each opens an order, or raises, escalates or reopens the
    /// order of its dispute. Returns the events written.
    pub fn advance<L: Log + ?Sized>(
        &mut self,
        log: &L,
        now: DateTime<Utc>,
    ) -> Result<Vec<WorkOrderEvent>, OrderError> {
        let kept = self.read_links(log)?;
        let merged_orders = self.merge_orders_of_merged_clusters(&kept, now);
        let end = log.end_offset(WARNINGS)?;
        if end <= self.warnings_read {
            if !merged_orders.is_empty() {
                match self.append_and_write(log, &merged_orders, Batch::new(), now) {
                    Ok(offsets) => self.record_all(&merged_orders, offsets),
                    Err(e) => {
                        self.stale = true;
                        return Err(e);
                    }
                }
            }
            return Ok(merged_orders);
        }
        let mut fresh = Vec::new();
        for_each_decoded(log, WARNINGS, self.warnings_read, |offset, warning: Warning| {
            if offset < end {
                fresh.push((offset, warning));
            }
        })?;
        // Each warning is decided against the orders the previous ones opened or changed, so they are applied
        // in memory as decided; if the write then fails, the stage is stale and must be opened again.
        let mut events = merged_orders;
        for (_, warning) in &fresh {
            let decided = match self
                .order_of_cluster(&warning.cluster_id)
                .and_then(|o| o.on_warning(warning, &self.policy))
            {
                Some(decided) => decided,
                None if self.orders.contains_key(&yujing_workorder::order_id_for(warning)) => Vec::new(),
                None => WorkOrder::open(warning, &self.policy),
            };
            for event in &decided {
                self.fold(event);
            }
            events.extend(decided);
        }
        let mut batch = Batch::new();
        batch.put_state(WARNINGS_READ_KEY, serde_json::to_vec(&end)?);
        match self.append_and_write(log, &events, batch, now) {
            Ok(offsets) => self.record_all(&events, offsets),
            Err(e) => {
                self.stale = true;
                return Err(e);
            }
        }
        for (offset, warning) in &fresh {
            self.remember(warning, *offset);
        }
        self.warnings_read = end;
        Ok(events)
    }

    /// How far into `warnings` the stage has read.
    pub fn warnings_read(&self) -> Offset {
        self.warnings_read
    }

    /// How far into `links` the stage has read.
    pub(crate) fn links_read(&self) -> Offset {
        self.links_read
    }

    /// Whether a write failed after the stage had applied its events in memory: open it again from the log.
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// Carries out `command` on order `order_id` for `actor` at `now`; returns the events written, or why it
    /// was refused (nothing is written then).
    pub fn execute<L: Log + ?Sized>(
        &mut self,
        log: &L,
        order_id: &str,
        command: &Command,
        actor: &Actor,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<WorkOrderEvent>, OrderError> {
        let events = self.decide(order_id, command, actor, reason, now)?;
        self.write(log, events, now)
    }

    /// The events `command` on order `order_id` gives, without applying them: for a merge, the merged order's
    /// and the absorbing order's.
    fn decide(
        &self,
        order_id: &str,
        command: &Command,
        actor: &Actor,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Vec<WorkOrderEvent>, OrderError> {
        let order = self
            .orders
            .get(order_id)
            .ok_or_else(|| OrderError::Unknown(order_id.to_owned()))?;
        let into = match command {
            Command::Merge { into_order_id } => self.orders.get(into_order_id),
            _ => None,
        };
        let mut events = order.decide(command, actor, reason, now, &self.policy, into)?;
        if let (Some(into), Some(merged)) = (into, events.first().cloned()) {
            events.extend(into.absorb(&merged));
        }
        Ok(events)
    }

    /// Supervision at `now`: cards for passed deadlines, automatic escalation, parked orders due for review.
    pub fn supervise<L: Log + ?Sized>(
        &mut self,
        log: &L,
        now: DateTime<Utc>,
    ) -> Result<Vec<WorkOrderEvent>, OrderError> {
        let events: Vec<WorkOrderEvent> = self
            .orders
            .values()
            .filter(|o| !o.status.is_final())
            .flat_map(|o| o.supervise(now, &self.policy))
            .collect();
        self.write(log, events, now)
    }

    /// An order by id.
    pub fn order(&self, order_id: &str) -> Option<&WorkOrder> {
        self.orders.get(order_id)
    }

    /// Every order, by id.
    pub fn orders(&self) -> impl Iterator<Item = &WorkOrder> {
        self.orders.values()
    }

    /// An order's events, in order (its audit trail), read back from `log` (the log the stage reads); empty for
    /// an unknown order.
    pub fn history<L: Log + ?Sized>(
        &self,
        log: &L,
        order_id: &str,
    ) -> Result<Vec<WorkOrderEvent>, OrderError> {
        let Some(offsets) = self.history.get(order_id) else {
            return Ok(Vec::new());
        };
        let events: Vec<WorkOrderEvent> = read_at(log, WORKORDERS, offsets)?;
        if let Some((offset, stray)) = offsets.iter().zip(&events).find(|(_, e)| e.order_id != order_id) {
            return Err(OrderError::Read(ReadError::Decode {
                topic: WORKORDERS.to_owned(),
                offset: *offset,
                reason: format!("an event of order {} in the trail of {order_id}", stray.order_id),
            }));
        }
        Ok(events)
    }

    /// Keeps what the stage needs of `warning`, read at `offset` of `warnings`.
    fn remember(&mut self, warning: &Warning, offset: Offset) {
        self.warnings
            .insert(warning.warning_id.clone(), WarningSummary::of(warning, offset));
    }

    /// A warning's summary, by id.
    pub fn warning_summary(&self, warning_id: &str) -> Option<&WarningSummary> {
        self.warnings.get(warning_id)
    }

    /// A warning by id, with its evidence, read back from `log` (the log the stage reads).
    pub fn warning<L: Log + ?Sized>(&self, log: &L, warning_id: &str) -> Result<Option<Warning>, OrderError> {
        match self.warnings.get(warning_id) {
            None => Ok(None),
            Some(summary) => Ok(read_warnings(log, [summary])?.pop()),
        }
    }

    /// The summaries of every warning the stage has read, by id.
    pub fn warnings(&self) -> impl Iterator<Item = &WarningSummary> {
        self.warnings.values()
    }

    /// The orders about the dispute `cluster_id` belongs to, oldest first.
    pub fn orders_of_cluster(&self, cluster_id: &str) -> Vec<&WorkOrder> {
        self.positions_of_dispute(cluster_id)
            .into_iter()
            .filter_map(|i| self.orders.get(&self.raised[i]))
            .collect()
    }
}

/// The warnings `summaries` describe, read back from `warnings` at their offsets, in the order given.
pub fn read_warnings<'a, L: Log + ?Sized>(
    log: &L,
    summaries: impl IntoIterator<Item = &'a WarningSummary>,
) -> Result<Vec<Warning>, ReadError> {
    let summaries: Vec<&WarningSummary> = summaries.into_iter().collect();
    let offsets: Vec<Offset> = summaries.iter().map(|s| s.offset).collect();
    let warnings: Vec<Warning> = read_at(log, WARNINGS, &offsets)?;
    for (warning, summary) in warnings.iter().zip(&summaries) {
        if warning.warning_id != summary.warning_id {
            return Err(ReadError::Decode {
                topic: WARNINGS.to_owned(),
                offset: summary.offset,
                reason: format!("holds warning {}, not {}", warning.warning_id, summary.warning_id),
            });
        }
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use yujing_model::CorrelationEvent;

    /// What the stage reads of an event is what the event says: a link is no merge, a merge names its two
    /// clusters (escaped characters and all), and a merge that does not name them is an error, not skipped.
    #[test]
    fn a_link_event_read_in_part_says_what_the_whole_event_says() {
        let events = [
            CorrelationEvent::Linked {
                clue_id: "hotline12345:A-1".to_owned(),
                cluster_id: "c-a".to_owned(),
                new_cluster: true,
                score: 0.0,
                matched: vec!["estate".to_owned(), "name".to_owned()],
                occurred_at: DateTime::<Utc>::UNIX_EPOCH,
            },
            CorrelationEvent::Merged {
                cluster_id: "c-\"kept\"\\".to_owned(),
                merged: "c-合并".to_owned(),
                by_clue_id: "grid:7".to_owned(),
            },
        ];
        for event in &events {
            let json = serde_json::to_vec(event).expect("encodes");
            let head: LinkHead<'_> = serde_json::from_slice(&json).expect("decodes");
            let read = match head.event {
                LinkKind::Linked => None,
                LinkKind::Merged => Some((head.cluster_id, head.merged)),
            };
            let said = match event {
                CorrelationEvent::Linked { .. } => None,
                CorrelationEvent::Merged {
                    cluster_id, merged, ..
                } => Some((Some(cluster_id.as_str().into()), Some(merged.as_str().into()))),
            };
            assert_eq!(read, said);
        }
        assert!(serde_json::from_slice::<LinkHead<'_>>(br#"{"event":"split","cluster_id":"c-a"}"#).is_err());
        // A merge on the log without the cluster it joins stops the stage with the event's place.
        let dir = tempfile::tempdir().expect("temp dir");
        let log = yujing_log::EmbeddedLog::open(dir.path()).expect("open");
        let mut batch = Batch::new();
        for value in [
            &br#"{"event":"linked","cluster_id":"c-a"}"#[..],
            br#"{"event":"merged","merged":"c-b"}"#,
        ] {
            let record = Record {
                key: b"c-a".to_vec(),
                value: value.to_vec(),
                timestamp_ms: 0,
            };
            batch.append(LINKS, record);
        }
        log.write(batch).expect("written");
        let mut config = crate::EngineConfig::defaults();
        config.pii.demo = true;
        let policy = config.check().expect("checked").policy;
        let error = OrderStage::open(&log, policy).err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("topic 'links' offset 1: a merge without its two clusters")
        );
    }
}
