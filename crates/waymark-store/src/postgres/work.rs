//! Requests and their tasks on PostgreSQL: each step is one transaction that locks its
//! instance's row (`FOR UPDATE`), so two nodes acting on one request take turns and the second
//! sees what the first did. A step writes journey events, so it takes the events lock too, last:
//! its events are held back until every other write of the step is done, then the lock, the
//! events and the commit follow. Steps on different requests so share only that short end, and
//! no cycle of waits arises: whoever holds the events lock writes only events, facts, identities
//! and the outbox, which no step locks before it.

use deadpool_postgres::GenericClient;
use serde_json::{Map, Value as Json, json};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};
use waymark_workflow::Process;
use waymark_workflow::engine::{self, Command, Effect, State, StepKind, TaskKind};

use super::directory::audit;
use super::events::{EVENT_COLUMNS, commit_with_events, event_from};
use super::tx::Tx;
use super::{Head, PgStore, listen};
use crate::workflow::{
    self, AuditRow, InstanceRow, InstanceSummary, Job, JobKind, TASK_COLUMNS, TaskKey, TaskRow,
    Turn, User, WorkflowError,
};
use crate::{NewEvent, Processes as _, StoreError};

fn task_from(row: &Row) -> Result<TaskRow, StoreError> {
    Ok(TaskRow {
        instance: row.try_get(0)?,
        task: row.try_get::<_, i64>(1)? as u64,
        node: row.try_get(2)?,
        name: row.try_get(3)?,
        kind: row.try_get(4)?,
        topic: row.try_get(5)?,
        assignee: row.try_get(6)?,
        candidate_groups: workflow::list(row.try_get(7)?),
        candidate_users: workflow::list(row.try_get(8)?),
        due_us: row.try_get(9)?,
        form: row.try_get(10)?,
        status: row.try_get(11)?,
        created_us: row.try_get(12)?,
        completed_by: row.try_get(13)?,
        requester: row.try_get(14)?,
        for_requester: row.try_get(15)?,
    })
}

/// Who a task is for, with directory references resolved (see the SQLite store's `resolve`).
async fn resolve(
    client: &impl GenericClient,
    spec: &str,
    requester: &str,
    instance: i64,
) -> Result<String, StoreError> {
    let Some(whose) = spec.strip_prefix("manager-of:") else {
        return Ok(spec.to_string());
    };
    let assignee: Option<String> = if whose == "assignee" {
        client
            .query_opt(
                &client.prepare_cached("SELECT assignee FROM tasks WHERE instance_id = $1 AND status = 'open' AND kind = 'user' AND assignee IS NOT NULL ORDER BY task_id LIMIT 1").await?,
                &[&instance],
            )
            .await?
            .map(|row| row.try_get(0))
            .transpose()?
    } else {
        None
    };
    let person = match whose {
        "requester" => requester,
        "assignee" => assignee.as_deref().unwrap_or(requester),
        other => other,
    };
    let manager: Option<Option<String>> = client
        .query_opt(
            &client
                .prepare_cached("SELECT manager FROM users WHERE id = $1")
                .await?,
            &[&person],
        )
        .await?
        .map(|row| row.try_get(0))
        .transpose()?;
    Ok(manager.flatten().unwrap_or_else(|| spec.to_string()))
}

/// One step being written.
struct Applying<'a, C> {
    client: &'a C,
    process: &'a Process,
    instance: i64,
    requester: &'a str,
    actor: &'a str,
    now_us: i64,
    traits: &'a [String],
    /// The people this node knows need nothing written.
    settled: &'a super::identity::Settled,
    /// The step's journey events, written by `finish` under the events lock.
    events: Vec<NewEvent>,
    /// The step's lines in the audit trail, written by `finish` in one statement.
    audits: Vec<AuditLine>,
    /// How many lines the trail held before the step.
    audited: i64,
    /// The step's writes not sent yet: they travel with its end (see `later`).
    writes: Vec<Write>,
}

/// A statement a step sends later, with the others, rather than waiting for each in turn.
struct Write {
    statement: Statement,
    params: Vec<Box<dyn ToSql + Sync + Send>>,
}

/// Sends `writes` one after another in one message and waits for them all; the first to fail
/// fails the step (and the transaction refuses everything after it).
async fn send_all(client: &impl GenericClient, writes: &[Write]) -> Result<(), StoreError> {
    let params: Vec<Vec<&(dyn ToSql + Sync)>> = writes
        .iter()
        .map(|w| {
            w.params
                .iter()
                .map(|p| p.as_ref() as &(dyn ToSql + Sync))
                .collect()
        })
        .collect();
    // `try_join_all` polls them in order, so they are sent in order.
    futures_util::future::try_join_all(
        writes
            .iter()
            .zip(&params)
            .map(|(w, p)| client.execute(&w.statement, p)),
    )
    .await?;
    Ok(())
}

/// A line of the audit trail a step writes.
struct AuditLine {
    actor: String,
    action: String,
    node: Option<String>,
    data: String,
}

impl<C: GenericClient + Sync> Applying<'_, C> {
    /// Queues a write of the step, sent with its end (or before a read that must see it).
    async fn later(
        &mut self,
        sql: &str,
        params: Vec<Box<dyn ToSql + Sync + Send>>,
    ) -> Result<(), StoreError> {
        let statement = self.client.prepare_cached(sql).await?;
        self.writes.push(Write { statement, params });
        Ok(())
    }

    /// Sends the writes queued so far.
    async fn flush(&mut self) -> Result<(), StoreError> {
        send_all(self.client, &std::mem::take(&mut self.writes)).await
    }

    /// Queues a step's writes on tasks, timers and subscriptions (`finish` sends them with the
    /// rest).
    async fn apply(&mut self, effects: &[Effect]) -> Result<(), WorkflowError> {
        let (client, instance, requester, now_us) =
            (self.client, self.instance, self.requester, self.now_us);
        for effect in effects {
            match effect {
                Effect::TaskCreated {
                    task,
                    node,
                    name,
                    kind,
                    assignee,
                    candidate_groups,
                    candidate_users,
                    due,
                    form,
                    item: _,
                    for_requester,
                } => {
                    let assignee = match assignee.as_deref() {
                        Some(a) => {
                            if a == "manager-of:assignee" {
                                // It reads the request's open tasks: those of this step too.
                                self.flush().await?;
                            }
                            Some(resolve(client, a, requester, instance).await?)
                        }
                        None => None,
                    };
                    let (kind, topic) = match kind {
                        TaskKind::User => ("user", None),
                        TaskKind::Worker { topic, .. } => ("worker", Some(topic.clone())),
                    };
                    let job = JobKind::of_task(topic.as_deref());
                    self.later(
                        "INSERT INTO tasks (instance_id, task_id, node, name, kind, topic, assignee, candidate_groups, candidate_users, due_us, form, status, created_us, requester, for_requester)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'open', $12, $13, $14)",
                        vec![
                            Box::new(instance),
                            Box::new(*task as i64),
                            Box::new(node.clone()),
                            Box::new(name.clone()),
                            Box::new(kind),
                            Box::new(topic),
                            Box::new(assignee.clone()),
                            Box::new(candidate_groups.join(",")),
                            Box::new(candidate_users.join(",")),
                            Box::new(*due),
                            Box::new(form.clone()),
                            Box::new(now_us),
                            Box::new(requester.to_string()),
                            Box::new(*for_requester),
                        ],
                    )
                    .await?;
                    if let Some(job) = job {
                        self.later(
                            "INSERT INTO jobs (kind, instance_id, item, due_us) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                            vec![Box::new(job.as_str()), Box::new(instance), Box::new(*task as i64), Box::new(now_us)],
                        )
                        .await?;
                    }
                    self.audit(
                        "system",
                        "task created",
                        Some(node),
                        &json!({ "task": task, "assignee": assignee, "candidate_groups": candidate_groups }),
                    );
                }
                Effect::TaskCancelled { task } => {
                    self.later(
                        "UPDATE tasks SET status = 'cancelled' WHERE instance_id = $1 AND task_id = $2 AND status = 'open'",
                        vec![Box::new(instance), Box::new(*task as i64)],
                    )
                    .await?;
                }
                Effect::TimerSet { timer, due } => {
                    self.later(
                        "INSERT INTO timers (instance_id, timer_id, due_us) VALUES ($1, $2, $3)
                         ON CONFLICT (instance_id, timer_id) DO UPDATE SET due_us = $3",
                        vec![Box::new(instance), Box::new(*timer as i64), Box::new(*due)],
                    )
                    .await?;
                    self.later(
                        "INSERT INTO jobs (kind, instance_id, item, due_us) VALUES ('timer', $1, $2, $3)
                         ON CONFLICT (kind, instance_id, item) DO UPDATE SET due_us = $3, attempts = 0",
                        vec![Box::new(instance), Box::new(*timer as i64), Box::new(*due)],
                    )
                    .await?;
                }
                Effect::TimerCancelled { timer } => {
                    self.later(
                        "DELETE FROM timers WHERE instance_id = $1 AND timer_id = $2",
                        vec![Box::new(instance), Box::new(*timer as i64)],
                    )
                    .await?;
                    self.later(
                        "DELETE FROM jobs WHERE kind = 'timer' AND instance_id = $1 AND item = $2",
                        vec![Box::new(instance), Box::new(*timer as i64)],
                    )
                    .await?;
                }
                Effect::MessageAwaited {
                    subscription,
                    message,
                } => {
                    self.later(
                        "INSERT INTO subscriptions (instance_id, subscription_id, message, correlation) VALUES ($1, $2, $3, $4)",
                        vec![Box::new(instance), Box::new(*subscription as i64), Box::new(message.clone()), Box::new(requester.to_string())],
                    )
                    .await?;
                }
                Effect::MessageNoLongerAwaited { subscription } => {
                    self.later(
                        "DELETE FROM subscriptions WHERE instance_id = $1 AND subscription_id = $2",
                        vec![Box::new(instance), Box::new(*subscription as i64)],
                    )
                    .await?;
                }
                Effect::Step { node, name, what } => {
                    self.journey_event(node, name, *what).await?;
                }
                Effect::Ended => {}
            }
        }
        Ok(())
    }

    /// Adds a line to the step's audit trail.
    fn audit(&mut self, actor: &str, action: &str, node: Option<&str>, data: &Json) {
        self.audits.push(AuditLine {
            actor: actor.to_string(),
            action: action.to_string(),
            node: node.map(str::to_string),
            data: data.to_string(),
        });
    }

    /// How many lines the trail holds so far, with the step's own.
    fn trail_length(&self) -> i64 {
        self.audited + self.audits.len() as i64
    }

    async fn journey_event(
        &mut self,
        node: &str,
        name: &str,
        what: StepKind,
    ) -> Result<(), StoreError> {
        let sequence = self.trail_length();
        let new: NewEvent = workflow::journey_event(
            &self.process.id,
            self.instance,
            self.requester,
            self.actor,
            self.now_us,
            (node, name, what),
            sequence,
        );
        self.audit(
            self.actor,
            "step",
            Some(node),
            &json!({ "event": new.name }),
        );
        self.events.push(new);
        Ok(())
    }

    /// Ends the step's writes. One statement writes the rest (the trail's lines in order, the
    /// tasks the step ended, the jobs that end with their timer (fired or cancelled) or their
    /// task (done or cancelled), and the instance's new state); then the events lock, the
    /// step's journey events and the commit (`commit_with_events`). The caller calls
    /// `tx.committed()` when this succeeds.
    async fn finish(self, tx: &Tx, state: &State, schedules: bool) -> Result<(), WorkflowError> {
        let (client, instance, now_us) = (self.client, self.instance, self.now_us);
        let open: Vec<i64> = state.tasks.keys().map(|t| *t as i64).collect();
        let timers: Vec<i64> = state.timers.keys().map(|t| *t as i64).collect();
        let stored = serde_json::to_string(state)
            .map_err(|e| WorkflowError::State(instance, e.to_string()))?;
        let status = workflow::status_text(&state.status);
        let lines = &self.audits;
        let column = |f: fn(&AuditLine) -> Option<&str>| lines.iter().map(f).collect::<Vec<_>>();
        let (actors, actions, nodes, data) = (
            column(|l| Some(l.actor.as_str())),
            column(|l| Some(l.action.as_str())),
            column(|l| l.node.as_deref()),
            column(|l| Some(l.data.as_str())),
        );
        let rest = client.prepare_cached("WITH trail AS (
                 INSERT INTO audit (instance_id, at_us, actor, action, node, data)
                 SELECT $1, $4, a, w, n, d FROM unnest($8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[])
                      WITH ORDINALITY AS l(a, w, n, d, place)
                 ORDER BY place),
             ended AS (
                 UPDATE tasks SET status = 'completed', completed_by = $5, completed_us = $4
                 WHERE instance_id = $1 AND status = 'open' AND NOT (task_id = ANY($6))),
             done AS (
                 DELETE FROM jobs WHERE instance_id = $1 AND (
                     (kind = 'timer' AND NOT (item = ANY($7))) OR (kind <> 'timer' AND NOT (item = ANY($6)))))
             UPDATE instances SET state = $2, status = $3, updated_us = $4,
                 ended_us = CASE WHEN $3 IN ('completed', 'terminated', 'cancelled', 'failed') THEN $4 ELSE ended_us END
             WHERE id = $1").await?;
        let driving = vec![false; self.events.len()];
        let notify = client.prepare_cached("SELECT pg_notify($1, '')").await?;
        let writing = async {
            let params: [&(dyn tokio_postgres::types::ToSql + Sync); 11] = [
                &instance,
                &stored,
                &status,
                &now_us,
                &self.actor,
                &open,
                &timers,
                &actors,
                &actions,
                &nodes,
                &data,
            ];
            // The step's queued writes go first, in the same message.
            if schedules {
                // Every node's job loops look again once this commits.
                tokio::try_join!(
                    biased;
                    send_all(client, &self.writes),
                    async { Ok(client.execute(&rest, &params).await?) },
                    async { Ok(client.execute(&notify, &[&listen::CHANNEL]).await?) },
                )?;
            } else {
                tokio::try_join!(
                    biased;
                    send_all(client, &self.writes),
                    async { Ok(client.execute(&rest, &params).await?) },
                )?;
            }
            Ok::<(), StoreError>(())
        };
        let stored = commit_with_events(
            tx,
            writing,
            &self.events,
            &driving,
            self.traits,
            self.settled,
        )
        .await?;
        // The ids are Waymark's own; were one taken all the same, the step goes on without it.
        for (event, new) in self.events.iter().zip(stored) {
            if !new {
                tracing::warn!(message_id = %event.message_id, "a step's journey event id was taken; the step goes on without it");
            }
        }
        Ok(())
    }
}

impl PgStore {
    /// Who started a request and what it runs, which never change: kept once read.
    fn head(&self, instance: i64) -> Result<Option<Head>, StoreError> {
        if let Some(head) = self.heads.get(instance) {
            return Ok(Some(head));
        }
        let head: Option<Head> = self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query_opt(
                    &client
                        .prepare_cached(
                            "SELECT process_id, version, requester FROM instances WHERE id = $1",
                        )
                        .await?,
                    &[&instance],
                )
                .await?
                .map(|r| Ok::<_, StoreError>((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
                .transpose()
        })?;
        if let Some(head) = &head {
            self.heads.keep(instance, head.clone());
        }
        Ok(head)
    }

    fn tasks_where(
        &self,
        condition: &'static str,
        instance: Option<i64>,
    ) -> Result<Vec<TaskRow>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let sql = format!("SELECT {TASK_COLUMNS} FROM tasks WHERE {condition}");
            let rows = match instance {
                Some(instance) => client.query(&sql, &[&instance]).await?,
                None => client.query(&sql, &[]).await?,
            };
            rows.iter().map(task_from).collect()
        })
    }
}

impl crate::Work for PgStore {
    fn start_keyed(
        &self,
        process: &str,
        requester: &str,
        message: Option<&str>,
        variables: Map<String, Json>,
        key: Option<&str>,
        now_us: i64,
    ) -> Result<Option<i64>, WorkflowError> {
        let deployed = self
            .latest_version(process)?
            .ok_or_else(|| WorkflowError::UnknownProcess(process.to_string()))?;
        let definition = workflow::definition(self, &self.definitions, process, deployed)?;
        let mut variables = variables;
        variables.insert("requester".into(), Json::from(requester));
        let (process, requester, message, key) = (
            process.to_string(),
            requester.to_string(),
            message.map(str::to_string),
            key.map(str::to_string),
        );
        let traits = self.identifier_traits.clone();
        let appends = self.appends.clone();
        let jobs = self.jobs.clone();
        self.write_step(move |pool| async move {
            let tx = Tx::open(&pool).await?;
            let transaction = tx.client();
            let starting = transaction.prepare_cached("INSERT INTO instances (process_id, version, requester, status, state, started_us, updated_us, start_key)
                     VALUES ($1, $2, $3, 'running', '{}', $4, $4, $5)
                     ON CONFLICT (start_key) WHERE start_key IS NOT NULL DO NOTHING RETURNING id").await?;
            let ((), inserted) = tokio::try_join!(
                biased;
                tx.begin(),
                async {
                    transaction
                        .query_opt(&starting, &[&process, &deployed, &requester, &now_us, &key])
                        .await
                        .map_err(StoreError::from)
                },
            )?;
            let Some(row) = inserted else {
                tx.rollback().await?;
                return Ok(None);
            };
            let instance: i64 = row.try_get(0).map_err(StoreError::from)?;
            let mut state = State::default();
            let form = variables.clone();
            let command = match message {
                Some(name) => Command::StartOnMessage { name, variables },
                None => Command::Start { variables },
            };
            let effects = match engine::step(&definition, &mut state, command, now_us) {
                Ok(effects) => effects,
                Err(refused) => {
                    // The request refuses the command (a task no longer open): nothing to write.
                    tx.rollback().await?;
                    return Err(refused.into());
                }
            };
            let mut step = Applying {
                client: transaction,
                process: &definition,
                instance,
                requester: &requester,
                actor: &requester,
                now_us,
                traits: &traits,
                settled: &appends.settled,
                events: Vec::new(),
                audits: Vec::new(),
                audited: 0,
                writes: Vec::new(),
            };
            step.audit(&requester, "started", None, &Json::Object(form));
            step.apply(&effects).await?;
            let schedules = workflow::schedules_job(&effects);
            step.finish(&tx, &state, schedules).await?;
            tx.committed();
            if schedules {
                jobs.raise();
            }
            Ok(Some(instance))
        })
    }

    fn advance_keyed(
        &self,
        instance: i64,
        command: Command,
        actor: &str,
        now_us: i64,
        message_id: Option<&str>,
    ) -> Result<Option<Vec<Effect>>, WorkflowError> {
        let head = self.head(instance)?;
        let (process, version, requester) = head.ok_or(WorkflowError::UnknownInstance(instance))?;
        let definition = workflow::definition(self, &self.definitions, &process, version)?;
        let (actor, message_id) = (actor.to_string(), message_id.map(str::to_string));
        let traits = self.identifier_traits.clone();
        let appends = self.appends.clone();
        let jobs = self.jobs.clone();
        self.write_step(move |pool| async move {
            let tx = Tx::open(&pool).await?;
            let transaction = tx.client();
            let begun = message_id.is_some();
            if let Some(message_id) = &message_id {
                tx.begin().await?;
                let first = transaction
                    .execute(
                        &transaction.prepare_cached("INSERT INTO message_deliveries (message_id, instance_id) VALUES ($1, $2) ON CONFLICT DO NOTHING").await?,
                        &[message_id, &instance],
                    )
                    .await?;
                if first == 0 {
                    tx.rollback().await?;
                    return Ok(None);
                }
            }
            // Locked until the commit: another node's step on this request waits, then reads
            // what this one wrote.
            // Sent together: the count is read once the lock is held, so it counts the lines
            // of the step before this one.
            let (locked, counted) = (
                transaction.prepare_cached("SELECT state FROM instances WHERE id = $1 FOR UPDATE").await?,
                transaction.prepare_cached("SELECT count(*) FROM audit WHERE instance_id = $1").await?,
            );
            let this: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&instance];
            let reading = async {
                tokio::try_join!(
                    biased;
                    transaction.query_one(&locked, &this),
                    transaction.query_one(&counted, &this),
                )
                .map_err(StoreError::from)
            };
            // Unless a delivery began it, the transaction begins with these reads.
            let (stored, audited) = if begun {
                reading.await?
            } else {
                tokio::try_join!(biased; tx.begin(), reading)?.1
            };
            let (stored, audited): (String, i64) = (stored.try_get(0)?, audited.try_get(0)?);
            let mut state: State = serde_json::from_str(&stored)
                .map_err(|e| WorkflowError::State(instance, e.to_string()))?;
            let (action, data, node) = workflow::describe(&definition, &state, &command);
            let effects = match engine::step(&definition, &mut state, command, now_us) {
                Ok(effects) => effects,
                Err(refused) => {
                    // The request refuses the command (a task no longer open): nothing to write.
                    tx.rollback().await?;
                    return Err(refused.into());
                }
            };
            let mut step = Applying {
                client: transaction,
                process: &definition,
                instance,
                requester: &requester,
                actor: &actor,
                now_us,
                traits: &traits,
                settled: &appends.settled,
                events: Vec::new(),
                audits: Vec::new(),
                audited,
                writes: Vec::new(),
            };
            step.audit(&actor, action, node.as_deref(), &data);
            step.apply(&effects).await?;
            let schedules = workflow::schedules_job(&effects);
            step.finish(&tx, &state, schedules).await?;
            tx.committed();
            if schedules {
                jobs.raise();
            }
            Ok(Some(effects))
        })
    }

    fn webhook_due(&self, instance: i64, task: u64, now_us: i64) -> Result<bool, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let next: Option<i64> = client
                .query_opt(
                    &client.prepare_cached("SELECT next_try_us FROM webhook_attempts WHERE instance_id = $1 AND task_id = $2").await?,
                    &[&instance, &(task as i64)],
                )
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
            Ok(next.is_none_or(|next| next <= now_us))
        })
    }

    fn webhook_failed(
        &self,
        instance: i64,
        task: u64,
        error: &str,
        next_try_us: i64,
    ) -> Result<i64, StoreError> {
        let error = error.to_string();
        self.write(move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    &client.prepare_cached("UPDATE jobs SET due_us = $3 WHERE kind = 'webhook' AND instance_id = $1 AND item = $2").await?,
                    &[&instance, &(task as i64), &next_try_us],
                )
                .await?;
            Ok(client
                .query_one(
                    &client.prepare_cached("INSERT INTO webhook_attempts (instance_id, task_id, attempts, next_try_us, last_error) VALUES ($1, $2, 1, $3, $4)
                     ON CONFLICT (instance_id, task_id) DO UPDATE SET attempts = webhook_attempts.attempts + 1, next_try_us = $3, last_error = $4
                     RETURNING attempts").await?,
                    &[&instance, &(task as i64), &next_try_us, &error],
                )
                .await?
                .try_get(0)?)
        })
    }

    fn webhook_attempts(
        &self,
        instance: i64,
        task: u64,
    ) -> Result<Option<(i64, String)>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query_opt(
                    &client.prepare_cached("SELECT attempts, last_error FROM webhook_attempts WHERE instance_id = $1 AND task_id = $2").await?,
                    &[&instance, &(task as i64)],
                )
                .await?
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .transpose()
        })
    }

    fn outbox_turn(&self, wait: bool) -> Option<Turn<'_>> {
        Turn::of(&self.outbox_turn, wait)
    }

    fn claim_jobs(
        &self,
        kind: JobKind,
        now_us: i64,
        lease_us: i64,
        limit: usize,
    ) -> Result<Vec<Job>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let until = now_us.saturating_add(lease_us);
        self.write(move |pool| async move {
            let client = pool.get().await?;
            // Rows another node is claiming are skipped, not waited for: each job goes to one.
            client
                .query(
                    &client.prepare_cached("UPDATE jobs j SET due_us = $3, attempts = j.attempts + 1
                     FROM (SELECT kind, instance_id, item FROM jobs WHERE kind = $1 AND due_us <= $2
                           ORDER BY due_us LIMIT $4 FOR UPDATE SKIP LOCKED) claimed
                     WHERE j.kind = claimed.kind AND j.instance_id = claimed.instance_id AND j.item = claimed.item
                     RETURNING j.instance_id, j.item, j.attempts").await?,
                    &[&kind.as_str(), &now_us, &until, &limit],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(Job {
                        kind,
                        instance: r.try_get(0)?,
                        item: r.try_get::<_, i64>(1)? as u64,
                        attempts: r.try_get(2)?,
                    })
                })
                .collect()
        })
    }

    fn failing_webhooks(
        &self,
        limit: usize,
    ) -> Result<(Vec<workflow::FailingWebhook>, usize), StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let rows = client
                .query(
                    &client.prepare_cached(workflow::FAILING_WEBHOOKS).await?,
                    &[&limit],
                )
                .await?;
            let found = rows
                .iter()
                .map(|r| {
                    Ok(workflow::FailingWebhook {
                        instance: r.try_get(0)?,
                        task: r.try_get::<_, i64>(1)? as u64,
                        name: r.try_get(2)?,
                        attempts: r.try_get(3)?,
                        last_error: r.try_get(4)?,
                        next_try_us: r.try_get(5)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let all: i64 = client
                .query_one(
                    &client
                        .prepare_cached(workflow::FAILING_WEBHOOKS_COUNTED)
                        .await?,
                    &[],
                )
                .await?
                .try_get(0)?;
            Ok((found, all as usize))
        })
    }

    fn mail_waiting(&self) -> Result<usize, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let n: i64 = client
                .query_one(&client.prepare_cached(workflow::MAIL_WAITING).await?, &[])
                .await?
                .try_get(0)?;
            Ok(n as usize)
        })
    }

    fn job_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.jobs.watch()
    }

    fn next_job(&self, kind: JobKind) -> Result<Option<i64>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query_one(
                    &client
                        .prepare_cached("SELECT min(due_us) FROM jobs WHERE kind = $1")
                        .await?,
                    &[&kind.as_str()],
                )
                .await?
                .try_get(0)?)
        })
    }

    fn outbox(&self, limit: usize) -> Result<Vec<(i64, NewEvent)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            let columns = EVENT_COLUMNS
                .split(", ")
                .map(|c| format!("e.{c}"))
                .collect::<Vec<_>>()
                .join(", ");
            client
                .query(
                    &client.prepare_cached(&format!(
                        "SELECT {columns}, NULL::BIGINT FROM message_outbox o JOIN events e ON e.seq = o.seq
                         ORDER BY o.seq LIMIT $1"
                    )).await?,
                    &[&limit],
                )
                .await?
                .iter()
                .map(|row| event_from(row).map(|stored| (stored.seq, stored.event)))
                .collect()
        })
    }

    fn outbox_done(&self, seqs: &[i64]) -> Result<(), StoreError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let seqs = seqs.to_vec();
        self.write(move |pool| async move {
            let client = pool.get().await?;
            client
                .execute(
                    &client
                        .prepare_cached("DELETE FROM message_outbox WHERE seq = ANY($1)")
                        .await?,
                    &[&seqs],
                )
                .await?;
            Ok(())
        })
    }

    fn instance(&self, id: i64) -> Result<Option<InstanceRow>, WorkflowError> {
        self.run_step(move |pool| async move {
            let client = pool.get().await?;
            let Some(r) = client
                .query_opt(
                    &client.prepare_cached("SELECT id, process_id, version, requester, status, state, started_us, updated_us FROM instances WHERE id = $1").await?,
                    &[&id],
                )
                .await?
            else {
                return Ok(None);
            };
            let state: String = r.try_get(5)?;
            let state =
                serde_json::from_str(&state).map_err(|e| WorkflowError::State(id, e.to_string()))?;
            Ok(Some(InstanceRow {
                id: r.try_get(0)?,
                process: r.try_get(1)?,
                version: r.try_get(2)?,
                requester: r.try_get(3)?,
                status: r.try_get(4)?,
                state,
                started_us: r.try_get(6)?,
                updated_us: r.try_get(7)?,
            }))
        })
    }

    fn instance_list(
        &self,
        status: Option<&str>,
        process: Option<&str>,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<InstanceSummary>, StoreError> {
        let (status, process) = (status.map(str::to_string), process.map(str::to_string));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    &client.prepare_cached("SELECT id, process_id, version, requester, status, started_us, updated_us FROM instances
                     WHERE ($1::TEXT IS NULL OR status = $1) AND ($2::TEXT IS NULL OR process_id = $2)
                       AND ($3::BIGINT IS NULL OR id < $3)
                     ORDER BY id DESC LIMIT $4").await?,
                    &[&status, &process, &before, &limit],
                )
                .await?
                .iter()
                .map(|r| {
                    Ok(InstanceSummary {
                        id: r.try_get(0)?,
                        process: r.try_get(1)?,
                        version: r.try_get(2)?,
                        requester: r.try_get(3)?,
                        status: r.try_get(4)?,
                        started_us: r.try_get(5)?,
                        updated_us: r.try_get(6)?,
                    })
                })
                .collect()
        })
    }

    fn instance_counts(&self) -> Result<Vec<(String, usize)>, StoreError> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    &client.prepare_cached("SELECT status, count(*) FROM instances GROUP BY status ORDER BY status").await?,
                    &[],
                )
                .await?
                .iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as usize)))
                .collect()
        })
    }

    fn instances_of(&self, requester: &str) -> Result<Vec<i64>, StoreError> {
        let requester = requester.to_string();
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    &client
                        .prepare_cached(
                            "SELECT id FROM instances WHERE requester = $1 ORDER BY id DESC",
                        )
                        .await?,
                    &[&requester],
                )
                .await?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect()
        })
    }

    fn open_tasks(&self) -> Result<Vec<TaskRow>, StoreError> {
        self.tasks_where(
            "status = 'open' ORDER BY created_us, instance_id, task_id",
            None,
        )
    }

    fn worker_tasks(
        &self,
        topic: Option<&str>,
        after: Option<TaskKey>,
        limit: usize,
    ) -> Result<(Vec<TaskRow>, Option<TaskKey>), StoreError> {
        let topic = topic.map(str::to_string);
        let asked = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<TaskRow> = self.run(move |pool| async move {
            let client = pool.get().await?;
            let sql = format!(
                "SELECT {TASK_COLUMNS} FROM tasks
                 WHERE status = 'open' AND kind = 'worker'
                   AND ($1::TEXT IS NULL OR topic = $1 OR starts_with(topic, $1 || '?'))
                   AND ($2::BIGINT IS NULL OR (created_us, instance_id, task_id) > ($2, $3::BIGINT, $4::BIGINT))
                 ORDER BY created_us, instance_id, task_id LIMIT $5"
            );
            client
                .query(
                    &client.prepare_cached(&sql).await?,
                    &[
                        &topic,
                        &after.map(|a| a.created_us),
                        &after.map(|a| a.instance),
                        &after.map(|a| a.task as i64),
                        &asked,
                    ],
                )
                .await?
                .iter()
                .map(task_from)
                .collect()
        })?;
        let next = workflow::next_page(&rows, limit);
        Ok((rows, next))
    }

    fn tasks_for_page(
        &self,
        user: &User,
        after: Option<TaskKey>,
        limit: usize,
    ) -> Result<(Vec<TaskRow>, Option<TaskKey>), StoreError> {
        let (person, groups) = (user.id.clone(), workflow::groups_of(user));
        let asked = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows: Vec<TaskRow> = self.run(move |pool| async move {
            let client = pool.get().await?;
            // The tasks assigned to the person and the unassigned ones offered to them, each
            // read in order through its own index (see `OPEN_WORK_INDEXES`), then merged.
            let sql = format!(
                "SELECT * FROM (SELECT {TASK_COLUMNS} FROM tasks
                     WHERE status = 'open' AND assignee = $1 AND kind = 'user'
                       AND NOT (requester = $1 AND NOT for_requester)
                       AND ($3::BIGINT IS NULL OR (created_us, instance_id, task_id) > ($3, $4::BIGINT, $5::BIGINT))
                     ORDER BY created_us, instance_id, task_id LIMIT $6) AS assigned
                 UNION ALL
                 SELECT * FROM (SELECT {TASK_COLUMNS} FROM tasks
                     WHERE status = 'open' AND assignee IS NULL AND kind = 'user'
                       AND NOT (requester = $1 AND NOT for_requester)
                       AND (strpos(',' || candidate_users || ',', ',' || $1 || ',') > 0
                            OR EXISTS (SELECT 1 FROM unnest($2::TEXT[]) g
                                       WHERE strpos(',' || lower(candidate_groups) || ',', ',' || g || ',') > 0))
                       AND ($3::BIGINT IS NULL OR (created_us, instance_id, task_id) > ($3, $4::BIGINT, $5::BIGINT))
                     ORDER BY created_us, instance_id, task_id LIMIT $6) AS offered
                 ORDER BY created_us, instance_id, task_id LIMIT $6"
            );
            client
                .query(
                    &client.prepare_cached(&sql).await?,
                    &[
                        &person,
                        &groups,
                        &after.map(|a| a.created_us),
                        &after.map(|a| a.instance),
                        &after.map(|a| a.task as i64),
                        &asked,
                    ],
                )
                .await?
                .iter()
                .map(task_from)
                .collect()
        })?;
        Ok(workflow::inbox_page(rows, user, limit))
    }

    fn task(&self, instance: i64, task: u64) -> Result<Option<TaskRow>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query_opt(
                    &client.prepare_cached(&format!(
                        "SELECT {TASK_COLUMNS} FROM tasks WHERE instance_id = $1 AND task_id = $2"
                    )).await?,
                    &[&instance, &(task as i64)],
                )
                .await?
                .map(|row| task_from(&row))
                .transpose()
        })
    }

    fn instance_tasks(&self, instance: i64) -> Result<Vec<TaskRow>, StoreError> {
        self.tasks_where("instance_id = $1 ORDER BY task_id", Some(instance))
    }

    fn has_subscriptions(&self) -> Result<bool, StoreError> {
        self.run(|pool| async move {
            let client = pool.get().await?;
            Ok(client
                .query_one(
                    &client
                        .prepare_cached("SELECT EXISTS (SELECT 1 FROM subscriptions)")
                        .await?,
                    &[],
                )
                .await?
                .try_get(0)?)
        })
    }

    fn awaited_messages(&self) -> Result<std::collections::HashSet<String>, WorkflowError> {
        let mut names: std::collections::HashSet<String> = self.run(|pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    &client
                        .prepare_cached("SELECT DISTINCT message FROM subscriptions")
                        .await?,
                    &[],
                )
                .await?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect::<Result<_, StoreError>>()
        })?;
        names.extend(
            crate::Processes::message_starts(self)?
                .iter()
                .map(|(message, _)| message.clone()),
        );
        Ok(names)
    }

    fn awaited_by(&self, instance: i64) -> Result<Vec<String>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    &client.prepare_cached("SELECT message FROM subscriptions WHERE instance_id = $1 GROUP BY message ORDER BY min(subscription_id)").await?,
                    &[&instance],
                )
                .await?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect()
        })
    }

    fn awaiting(&self, message: &str, person: &str) -> Result<Vec<i64>, StoreError> {
        let (message, person) = (message.to_string(), person.to_string());
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    &client.prepare_cached("SELECT DISTINCT instance_id FROM subscriptions WHERE message = $1 AND correlation = $2 ORDER BY instance_id").await?,
                    &[&message, &person],
                )
                .await?
                .iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect()
        })
    }

    fn audit_trail(&self, instance: i64) -> Result<Vec<AuditRow>, StoreError> {
        self.run(move |pool| async move {
            let client = pool.get().await?;
            client
                .query(
                    &client.prepare_cached("SELECT at_us, actor, action, node, data FROM audit WHERE instance_id = $1 ORDER BY id").await?,
                    &[&instance],
                )
                .await?
                .iter()
                .map(|r| {
                    let data: String = r.try_get(4)?;
                    Ok(AuditRow {
                        at_us: r.try_get(0)?,
                        actor: r.try_get(1)?,
                        action: r.try_get(2)?,
                        node: r.try_get(3)?,
                        data: serde_json::from_str(&data).unwrap_or(Json::Null),
                    })
                })
                .collect()
        })
    }

    fn assign_task(
        &self,
        instance: i64,
        task: u64,
        user: &str,
        by: &str,
        action: &str,
        reason: Option<&str>,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        let data = workflow::assignment(task, user, reason);
        let (user, by, action) = (user.to_string(), by.to_string(), action.to_string());
        self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let node: Option<String> = transaction
                .query_opt(
                    &transaction.prepare_cached("UPDATE tasks SET assignee = $3 WHERE instance_id = $1 AND task_id = $2 AND status = 'open' RETURNING node").await?,
                    &[&instance, &(task as i64), &user],
                )
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
            if let Some(node) = &node {
                audit(
                    &transaction,
                    instance,
                    now_us,
                    &by,
                    &action,
                    Some(node),
                    &data,
                )
                .await?;
            }
            transaction.commit().await?;
            Ok(node.is_some())
        })
    }

    fn retry_webhook(
        &self,
        instance: i64,
        task: u64,
        by: &str,
        reason: &str,
        now_us: i64,
    ) -> Result<bool, StoreError> {
        let (by, reason) = (by.to_string(), reason.to_string());
        let jobs = self.jobs.clone();
        let retried = self.write(move |pool| async move {
            let mut client = pool.get().await?;
            let transaction = client.transaction().await?;
            let node: Option<String> = transaction
                .query_opt(
                    // Only a call waiting for its next try: a claimed one is being made now.
                    &transaction.prepare_cached("UPDATE jobs j SET due_us = $3 FROM tasks t, webhook_attempts w
                         WHERE j.kind = 'webhook' AND j.instance_id = $1 AND j.item = $2
                           AND t.instance_id = j.instance_id AND t.task_id = j.item AND t.status = 'open'
                           AND w.instance_id = j.instance_id AND w.task_id = j.item AND j.due_us = w.next_try_us
                         RETURNING t.node").await?,
                    &[&instance, &(task as i64), &now_us],
                )
                .await?
                .map(|row| row.try_get(0))
                .transpose()?;
            if let Some(node) = &node {
                transaction
                    .execute(
                        &transaction.prepare_cached("UPDATE webhook_attempts SET next_try_us = $3 WHERE instance_id = $1 AND task_id = $2").await?,
                        &[&instance, &(task as i64), &now_us],
                    )
                    .await?;
                audit(
                    &transaction,
                    instance,
                    now_us,
                    &by,
                    "retried",
                    Some(node),
                    &json!({ "task": task, "reason": reason }),
                )
                .await?;
                // Every node's job loop hears it, as when a step adds a job.
                transaction
                    .execute(
                        &transaction.prepare_cached("SELECT pg_notify($1, '')").await?,
                        &[&super::listen::CHANNEL],
                    )
                    .await?;
            }
            transaction.commit().await?;
            Ok(node.is_some())
        })?;
        if retried {
            jobs.raise();
        }
        Ok(retried)
    }

    fn comment(
        &self,
        instance: i64,
        task: u64,
        by: &str,
        text: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        let (by, data) = (by.to_string(), json!({ "task": task, "text": text }));
        self.write(move |pool| async move {
            let client = pool.get().await?;
            audit(&client, instance, now_us, &by, "comment", None, &data).await
        })
    }

    fn audit_refusal(
        &self,
        instance: i64,
        actor: &str,
        what: &str,
        now_us: i64,
    ) -> Result<(), StoreError> {
        let (actor, data) = (actor.to_string(), json!({ "attempt": what }));
        self.write(move |pool| async move {
            let client = pool.get().await?;
            audit(&client, instance, now_us, &actor, "refused", None, &data).await
        })
    }
}
