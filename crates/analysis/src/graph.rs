//! The graph, its cycles, chains and root causes.

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// A task, named by its `struct task_struct *`.
pub type TaskId = u64;
/// A lock (or anything waited on), named by its address.
pub type LockId = u64;

/// How a relation is known.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Certainty {
    /// Read from memory: the kernel records it (`source` says where, e.g. `mutex.owner`).
    Fact { source: String },
    /// Inferred from evidence the kernel does not record as such.
    Inference {
        confidence: f64,
        reasons: Vec<String>,
    },
}

impl Certainty {
    pub fn fact(source: impl Into<String>) -> Self {
        Certainty::Fact {
            source: source.into(),
        }
    }
    pub fn inference(confidence: f64, reasons: Vec<String>) -> Self {
        Certainty::Inference {
            confidence: confidence.clamp(0.0, 1.0),
            reasons,
        }
    }
    /// 1 for a fact, the inference's confidence otherwise.
    pub fn confidence(&self) -> f64 {
        match self {
            Certainty::Fact { .. } => 1.0,
            Certainty::Inference { confidence, .. } => *confidence,
        }
    }
    pub fn is_fact(&self) -> bool {
        matches!(self, Certainty::Fact { .. })
    }
}

/// A task of the graph.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TaskNode {
    pub id: TaskId,
    pub pid: u32,
    pub comm: String,
    /// The state as crash's `ps` prints it: `UN`, `RU`, `IN`, ...
    pub state: String,
    /// In uninterruptible sleep (D).
    pub blocked: bool,
    /// On a CPU when the dump was taken.
    pub running: bool,
    /// The innermost interesting function it sleeps in, e.g. `rwsem_down_read_slowpath`.
    pub blocked_in: Option<String>,
    /// The first caller outside the locking and scheduling code, `function+0xoff [module]`
    /// (`kscand_fn+0x1c6 [hangmod]`): the code that took the lock or chose to sleep, the
    /// frame a person acts on ([`crate::frames::caller_frame`]).
    pub caller: Option<String>,
    /// How long it has not run, when known.
    pub blocked_for_ns: Option<u64>,
}

/// A lock, or any object tasks wait on.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LockNode {
    pub id: LockId,
    /// `rwsem`, `mutex`, `semaphore`, `completion`, `page_lock`, ...
    pub kind: String,
    /// A name a person knows it by: `mmap_lock of mm 0x... (bench, pid 96)`, `abba_m1 [hangmod]`.
    pub name: String,
    /// Whether the object can have a holder at all (a completion has none: whoever calls
    /// `complete()` releases its waiters).
    pub can_be_held: bool,
    /// What holds it that is not a task (I/O in flight, a frozen filesystem), best first,
    /// each saying what ends the wait.
    pub held_by: Vec<StateHolder>,
}

/// A holder that is not a task.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct StateHolder {
    /// The kind of state, the same on every machine: `io`, `frozen_filesystem`,
    /// `suspended_dm_device`.
    pub state: String,
    pub what: String,
    pub certainty: Certainty,
}

/// A task waiting for a lock.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Wait {
    pub task: TaskId,
    pub lock: LockId,
    /// `read`, `write`, `exclusive`, ...
    pub mode: String,
    /// Place in the lock's wait queue, 0 first, when known.
    pub position: Option<usize>,
    pub certainty: Certainty,
}

/// A task holding a lock.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Hold {
    pub lock: LockId,
    pub task: TaskId,
    pub mode: String,
    pub certainty: Certainty,
}

/// A graph's waits and holds by task and by lock, in the graph's order: see
/// [`WaitGraph::index`].
pub struct GraphIndex<'g> {
    waits_by_task: HashMap<TaskId, Vec<&'g Wait>>,
    waits_by_lock: HashMap<LockId, Vec<&'g Wait>>,
    holds_by_lock: HashMap<LockId, Vec<&'g Hold>>,
    holds_by_task: HashMap<TaskId, Vec<&'g Hold>>,
}

impl<'g> GraphIndex<'g> {
    fn new(g: &'g WaitGraph) -> GraphIndex<'g> {
        let mut ix = GraphIndex {
            waits_by_task: HashMap::new(),
            waits_by_lock: HashMap::new(),
            holds_by_lock: HashMap::new(),
            holds_by_task: HashMap::new(),
        };
        for w in &g.waits {
            ix.waits_by_task.entry(w.task).or_default().push(w);
            ix.waits_by_lock.entry(w.lock).or_default().push(w);
        }
        for h in &g.holds {
            ix.holds_by_lock.entry(h.lock).or_default().push(h);
            ix.holds_by_task.entry(h.task).or_default().push(h);
        }
        ix
    }

    /// What a task waits for, in the graph's order.
    pub fn task_waits(&self, task: TaskId) -> &[&'g Wait] {
        self.waits_by_task.get(&task).map_or(&[], Vec::as_slice)
    }

    /// The locks a task waits for, most certain first (equally certain ones in the graph's
    /// order).
    pub fn waits_of(&self, task: TaskId) -> Vec<&'g Wait> {
        let mut w = self.task_waits(task).to_vec();
        w.sort_by(|a, b| {
            b.certainty
                .confidence()
                .total_cmp(&a.certainty.confidence())
        });
        w
    }

    /// The waits queued on a lock, in the graph's order.
    pub fn waiters_of(&self, lock: LockId) -> &[&'g Wait] {
        self.waits_by_lock.get(&lock).map_or(&[], Vec::as_slice)
    }

    /// What holds a lock, in the graph's order.
    pub fn lock_holds(&self, lock: LockId) -> &[&'g Hold] {
        self.holds_by_lock.get(&lock).map_or(&[], Vec::as_slice)
    }

    /// The holders of a lock, most certain first (then by task).
    pub fn holders_of(&self, lock: LockId) -> Vec<&'g Hold> {
        let mut h = self.lock_holds(lock).to_vec();
        h.sort_by(|a, b| {
            b.certainty
                .confidence()
                .total_cmp(&a.certainty.confidence())
                .then(a.task.cmp(&b.task))
        });
        h
    }

    /// What a task holds, in the graph's order.
    pub fn holds_of(&self, task: TaskId) -> &[&'g Hold] {
        self.holds_by_task.get(&task).map_or(&[], Vec::as_slice)
    }
}

/// Everything the kernel-object layer found.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct WaitGraph {
    pub tasks: BTreeMap<TaskId, TaskNode>,
    pub locks: BTreeMap<LockId, LockNode>,
    pub waits: Vec<Wait>,
    pub holds: Vec<Hold>,
}

/// A deadlock: tasks each waiting for a lock the next one holds (one task: a self-deadlock).
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Cycle {
    /// In wait order: `tasks[i]` waits for `locks[i]`, held by `tasks[i + 1]` (wrapping).
    pub tasks: Vec<TaskId>,
    pub locks: Vec<LockId>,
    /// The weakest link's certainty (1.0 when every link is a fact).
    pub confidence: f64,
    pub all_facts: bool,
}

/// One link of a chain: the task waits for `lock`, which `holders` hold.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ChainStep {
    pub task: TaskId,
    pub lock: LockId,
    pub mode: String,
    pub wait: Certainty,
    /// The holders, best-known first, with how each is known.
    pub holders: Vec<(TaskId, Certainty)>,
}

/// From a blocked task to what it ultimately waits for.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Chain {
    pub task: TaskId,
    pub steps: Vec<ChainStep>,
    /// Index into [`Analysis::root_causes`].
    pub root_cause: usize,
}

/// Why the tasks of a root cause are where everything ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RootKind {
    /// A task waits for a lock it holds itself.
    SelfDeadlock { lock: LockId },
    /// Tasks wait for each other in a cycle (index into [`Analysis::cycles`]).
    Deadlock { cycle: usize },
    /// The holders sleep, waiting for nothing another task holds.
    HolderSleeping { lock: LockId },
    /// A holder was running on a CPU.
    HolderRunning { lock: LockId },
    /// The object cannot be held (a completion): the waiters wait for an event nothing
    /// is going to signal.
    NothingToWake { lock: LockId },
    /// The lock has waiters but no holder could be found.
    HolderUnknown { lock: LockId },
    /// No task holds it: a state of the system does (I/O in flight, a frozen filesystem),
    /// and the wait lasts as long as that state (`LockNode::held_by` says what ends it). Such
    /// a root has no task; its waiters are `blocked_behind`.
    HeldByState { lock: LockId },
    /// Blocked tasks that wait for nothing holdup identified, and that nobody waits for.
    Stuck,
}

impl RootKind {
    /// The one lock this kind of root is about (`None` for a deadlock, which has one per
    /// link, and for a stuck task).
    pub fn lock(&self) -> Option<LockId> {
        match self {
            RootKind::SelfDeadlock { lock }
            | RootKind::HolderSleeping { lock }
            | RootKind::HolderRunning { lock }
            | RootKind::NothingToWake { lock }
            | RootKind::HolderUnknown { lock }
            | RootKind::HeldByState { lock } => Some(*lock),
            RootKind::Deadlock { .. } | RootKind::Stuck => None,
        }
    }

    /// Its name in the report's JSON and in triage lines (as serialized): `self_deadlock`,
    /// `deadlock`, `holder_sleeping`, ...
    pub fn name(&self) -> &'static str {
        match self {
            RootKind::SelfDeadlock { .. } => "self_deadlock",
            RootKind::Deadlock { .. } => "deadlock",
            RootKind::HolderSleeping { .. } => "holder_sleeping",
            RootKind::HolderRunning { .. } => "holder_running",
            RootKind::NothingToWake { .. } => "nothing_to_wake",
            RootKind::HolderUnknown { .. } => "holder_unknown",
            RootKind::HeldByState { .. } => "held_by_state",
            RootKind::Stuck => "stuck",
        }
    }
}

/// Where chains end.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct RootCause {
    pub tasks: Vec<TaskId>,
    pub kind: RootKind,
    /// Every other task whose chain ends here.
    pub blocked_behind: Vec<TaskId>,
    /// The weakest link on the way (1.0: all facts).
    pub confidence: f64,
}

/// What the graph says.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Analysis {
    pub cycles: Vec<Cycle>,
    pub chains: Vec<Chain>,
    /// Most tasks blocked behind first.
    pub root_causes: Vec<RootCause>,
}

/// How far a chain is followed before it is cut (the graph is finite, but bounded anyway).
const MAX_CHAIN: usize = 64;

impl WaitGraph {
    /// What holds a `held_by_state` root: the first state holder of its lock.
    pub fn state_holder(&self, kind: &RootKind) -> Option<&StateHolder> {
        match kind {
            RootKind::HeldByState { lock } => self.locks.get(lock)?.held_by.first(),
            _ => None,
        }
    }

    /// A task's pid (`u32::MAX` for a task not in the graph), to order tasks the same way in
    /// every dump of the same hang.
    pub fn pid_of(&self, task: TaskId) -> u32 {
        self.tasks.get(&task).map_or(u32::MAX, |t| t.pid)
    }

    /// The graph's relations by task and by lock, built once: a pass over every wait or hold
    /// per task would make thousands of tasks behind one lock cost millions of steps.
    pub fn index(&self) -> GraphIndex<'_> {
        GraphIndex::new(self)
    }

    /// Cycles among tasks: strongly connected components of "waits for a lock held by".
    pub fn cycles(&self) -> Vec<Cycle> {
        self.cycles_with(&self.index())
    }

    fn cycles_with(&self, ix: &GraphIndex<'_>) -> Vec<Cycle> {
        let mut cycles = Vec::new();
        let mut seen_sets: BTreeSet<Vec<TaskId>> = BTreeSet::new();
        for start in self.tasks.keys() {
            // Follow the most certain wait and the most certain holder from each task; a
            // cycle is found when the walk comes back to a task already on it.
            let mut path: Vec<(TaskId, LockId, f64, bool)> = Vec::new();
            let mut at = *start;
            for _ in 0..MAX_CHAIN {
                let Some(wait) = ix.waits_of(at).into_iter().next() else {
                    break;
                };
                let Some(hold) = ix.holders_of(wait.lock).into_iter().next() else {
                    break;
                };
                let link = wait.certainty.confidence().min(hold.certainty.confidence());
                let facts = wait.certainty.is_fact() && hold.certainty.is_fact();
                path.push((at, wait.lock, link, facts));
                if let Some(i) = path.iter().position(|p| p.0 == hold.task) {
                    let ring = &path[i..];
                    let mut key: Vec<TaskId> = ring.iter().map(|p| p.0).collect();
                    key.sort_unstable();
                    if seen_sets.insert(key) {
                        // Start the cycle at its task of the lowest pid, so that the same
                        // deadlock reads the same in every dump (task addresses change from
                        // boot to boot; the pids of a reproducer's tasks do not).
                        let lowest = (0..ring.len())
                            .min_by_key(|&j| (self.pid_of(ring[j].0), ring[j].0))
                            .unwrap_or(0);
                        let rot: Vec<_> = ring[lowest..].iter().chain(&ring[..lowest]).collect();
                        cycles.push(Cycle {
                            tasks: rot.iter().map(|p| p.0).collect(),
                            locks: rot.iter().map(|p| p.1).collect(),
                            confidence: ring.iter().map(|p| p.2).fold(1.0, f64::min),
                            all_facts: ring.iter().all(|p| p.3),
                        });
                    }
                    break;
                }
                at = hold.task;
            }
        }
        cycles
    }

    /// Cycles, chains and ranked root causes.
    /// On a running kernel, read twice: every wait and hold of this reading that `again` (a
    /// second reading) does not have changed while holdup read, and is no fact. Each becomes a
    /// guess of at most 50% saying so; returns how many. Two readings of a dump are the same,
    /// and nothing changes.
    pub fn mark_unstable(&mut self, again: &WaitGraph) -> usize {
        use std::collections::HashSet;
        let waits: HashSet<(TaskId, LockId, &str)> = again
            .waits
            .iter()
            .map(|w| (w.task, w.lock, w.mode.as_str()))
            .collect();
        let holds: HashSet<(TaskId, LockId)> =
            again.holds.iter().map(|h| (h.task, h.lock)).collect();
        let unstable = |c: &mut Certainty| {
            let reason =
                "changed while read: a second reading of the running kernel did not show it"
                    .to_string();
            *c = match std::mem::replace(c, Certainty::fact("")) {
                Certainty::Fact { source } => {
                    Certainty::inference(0.5, vec![format!("{source}, read once"), reason])
                }
                Certainty::Inference {
                    confidence,
                    mut reasons,
                } => {
                    reasons.push(reason);
                    Certainty::inference(confidence.min(0.5), reasons)
                }
            };
        };
        let mut n = 0;
        for w in &mut self.waits {
            if !waits.contains(&(w.task, w.lock, w.mode.as_str())) {
                unstable(&mut w.certainty);
                n += 1;
            }
        }
        for h in &mut self.holds {
            if !holds.contains(&(h.task, h.lock)) {
                unstable(&mut h.certainty);
                n += 1;
            }
        }
        n
    }

    pub fn analyse(&self) -> Analysis {
        let ix = self.index();
        let cycles = self.cycles_with(&ix);
        let cycle_of: HashMap<TaskId, usize> = cycles
            .iter()
            .enumerate()
            .flat_map(|(i, c)| c.tasks.iter().map(move |t| (*t, i)))
            .collect();

        let mut roots: Vec<RootCause> = Vec::new();
        // Roots held by the same state of the system (one suspended device under several
        // folios) are one root.
        let state_of = |kind: &RootKind| self.state_holder(kind).map(|h| h.what.clone());
        let root_index =
            |roots: &mut Vec<RootCause>, kind: RootKind, tasks: Vec<TaskId>| match roots
                .iter()
                .position(|r| {
                    (r.kind == kind && r.tasks == tasks)
                        || (tasks.is_empty()
                            && r.tasks.is_empty()
                            && state_of(&kind).is_some()
                            && state_of(&r.kind) == state_of(&kind))
                }) {
                Some(i) => i,
                None => {
                    roots.push(RootCause {
                        tasks,
                        kind,
                        blocked_behind: Vec::new(),
                        confidence: 1.0,
                    });
                    roots.len() - 1
                }
            };

        let waiting: BTreeSet<TaskId> = self.waits.iter().map(|w| w.task).collect();
        let mut chains = Vec::new();
        // The root each holder-less lock's waiters end at, once one of them got there.
        let mut holderless_root: HashMap<LockId, usize> = HashMap::new();
        // Each root's tasks and the tasks behind it, to add each task once.
        let mut members: Vec<HashSet<TaskId>> = Vec::new();
        for task in self
            .tasks
            .values()
            .filter(|t| t.blocked || waiting.contains(&t.id))
        {
            let mut steps = Vec::new();
            let mut at = task.id;
            let mut confidence = 1.0f64;
            let mut visited = BTreeSet::new();
            let (kind, root_tasks, known_root) = loop {
                if let Some(&c) = cycle_of.get(&at) {
                    let cyc = &cycles[c];
                    confidence = confidence.min(cyc.confidence);
                    break if cyc.tasks.len() == 1 {
                        (
                            RootKind::SelfDeadlock { lock: cyc.locks[0] },
                            cyc.tasks.clone(),
                            None,
                        )
                    } else {
                        (RootKind::Deadlock { cycle: c }, cyc.tasks.clone(), None)
                    };
                }
                let Some(wait) = ix.waits_of(at).into_iter().next() else {
                    // Not waiting for anything known: the end of the chain is this task.
                    break if at == task.id {
                        (RootKind::Stuck, vec![at], None)
                    } else {
                        let lock = steps.last().map_or(0, |s: &ChainStep| s.lock);
                        let running = self.tasks.get(&at).is_some_and(|t| t.running);
                        let holders: Vec<TaskId> = steps
                            .last()
                            .map(|s: &ChainStep| {
                                // Every holder about as likely as the best one: a semaphore
                                // held twice, the readers of an rwsem.
                                let best = s.holders.first().map_or(0.0, |(_, c)| c.confidence());
                                s.holders
                                    .iter()
                                    .filter(|(h, c)| {
                                        !waiting.contains(h) && c.confidence() >= best * 0.8
                                    })
                                    .map(|(h, _)| *h)
                                    .collect()
                            })
                            .unwrap_or_else(|| vec![at]);
                        if running {
                            (RootKind::HolderRunning { lock }, holders, None)
                        } else {
                            (RootKind::HolderSleeping { lock }, holders, None)
                        }
                    };
                };
                let holders = ix.holders_of(wait.lock);
                confidence = confidence.min(wait.certainty.confidence());
                steps.push(ChainStep {
                    task: at,
                    lock: wait.lock,
                    mode: wait.mode.clone(),
                    wait: wait.certainty.clone(),
                    holders: holders
                        .iter()
                        .map(|h| (h.task, h.certainty.clone()))
                        .collect(),
                });
                let Some(next) = holders.first() else {
                    let node = self.locks.get(&wait.lock);
                    let can_be_held = node.is_none_or(|l| l.can_be_held);
                    // Every waiter of a holder-less lock ends at the same root: found once.
                    if let Some(&i) = holderless_root.get(&wait.lock) {
                        break (RootKind::Stuck, Vec::new(), Some(i));
                    }
                    if let Some(h) = node.and_then(|l| l.held_by.first()) {
                        // No task to blame: every waiter is behind the state, in one root.
                        confidence = confidence.min(h.certainty.confidence());
                        break (RootKind::HeldByState { lock: wait.lock }, Vec::new(), None);
                    }
                    // Every task queued on a lock whose holder is not found is one root: the
                    // lock, with each of them (not one root per waiter of the same lock).
                    let mut waiters: Vec<TaskId> = if can_be_held {
                        // No holder: `holders` is empty, and so for every waiter of the lock.
                        ix.waiters_of(wait.lock).iter().map(|w| w.task).collect()
                    } else {
                        vec![at]
                    };
                    waiters.sort_unstable();
                    waiters.dedup();
                    if waiters.is_empty() {
                        waiters.push(at);
                    }
                    break if can_be_held {
                        (RootKind::HolderUnknown { lock: wait.lock }, waiters, None)
                    } else {
                        (RootKind::NothingToWake { lock: wait.lock }, waiters, None)
                    };
                };
                confidence = confidence.min(next.certainty.confidence());
                if !visited.insert(at) || steps.len() >= MAX_CHAIN {
                    break (RootKind::HolderUnknown { lock: wait.lock }, vec![at], None);
                }
                at = next.task;
            };
            let i = match known_root {
                Some(i) => i,
                None => {
                    // (Not NothingToWake: each of its waiters is a root of its own.)
                    let ends_at = match kind {
                        RootKind::HolderUnknown { lock } | RootKind::HeldByState { lock } => {
                            Some(lock)
                        }
                        _ => None,
                    };
                    let i = root_index(&mut roots, kind, root_tasks);
                    // A chain that ended at a lock with no holder task (the chain, not a
                    // cut at MAX_CHAIN: its lock then has holders) ends there for every
                    // other waiter too.
                    if let Some(lock) = ends_at
                        && ix.lock_holds(lock).is_empty()
                    {
                        holderless_root.insert(lock, i);
                    }
                    i
                }
            };
            roots[i].confidence = roots[i].confidence.min(confidence);
            while members.len() < roots.len() {
                let r = &roots[members.len()];
                members.push(r.tasks.iter().chain(&r.blocked_behind).copied().collect());
            }
            if members[i].insert(task.id) {
                roots[i].blocked_behind.push(task.id);
            }
            chains.push(Chain {
                task: task.id,
                steps,
                root_cause: i,
            });
        }

        // Tasks in pid order, so that lists read the same in every dump of the same hang; a
        // deadlock's tasks stay in wait order (its cycle starts at its lowest pid).
        let by_pid = |v: &mut Vec<TaskId>| v.sort_by_key(|&t| (self.pid_of(t), t));
        for r in &mut roots {
            by_pid(&mut r.blocked_behind);
            if !matches!(r.kind, RootKind::Deadlock { .. }) {
                by_pid(&mut r.tasks);
            }
        }
        // Most tasks blocked behind first, then by the lowest pid involved (the root's own
        // tasks, or for a state of the system the tasks behind it): one order, the same in
        // every dump of the same hang, that a person can check from the report.
        let lowest_pid = |r: &RootCause| {
            let own = r.tasks.iter().map(|&t| self.pid_of(t)).min();
            own.or_else(|| r.blocked_behind.iter().map(|&t| self.pid_of(t)).min())
                .unwrap_or(u32::MAX)
        };
        let mut order: Vec<usize> = (0..roots.len()).collect();
        order.sort_by(|&a, &b| {
            roots[b]
                .blocked_behind
                .len()
                .cmp(&roots[a].blocked_behind.len())
                .then(lowest_pid(&roots[a]).cmp(&lowest_pid(&roots[b])))
                .then(roots[a].tasks.cmp(&roots[b].tasks))
        });
        // A stuck task that is already some chain's end is reported there; keep the rest.
        let covered: BTreeSet<TaskId> = roots
            .iter()
            .filter(|r| r.kind != RootKind::Stuck)
            .flat_map(|r| r.tasks.iter().copied())
            .collect();
        let keep: Vec<usize> = order
            .into_iter()
            .filter(|&i| {
                !(roots[i].kind == RootKind::Stuck
                    && roots[i].tasks.iter().all(|t| covered.contains(t)))
            })
            .collect();
        let new_index: HashMap<usize, usize> = keep
            .iter()
            .enumerate()
            .map(|(new, &old)| (old, new))
            .collect();
        let root_causes: Vec<RootCause> = keep.iter().map(|&i| roots[i].clone()).collect();
        let chains = chains
            .into_iter()
            .filter_map(|mut c| {
                c.root_cause = *new_index.get(&c.root_cause)?;
                Some(c)
            })
            .collect();
        Analysis {
            cycles,
            chains,
            root_causes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct G(WaitGraph);

    impl G {
        fn new() -> Self {
            G(WaitGraph::default())
        }
        fn task(mut self, id: TaskId, comm: &str) -> Self {
            self.0.tasks.insert(
                id,
                TaskNode {
                    id,
                    pid: id as u32,
                    comm: comm.into(),
                    state: "UN".into(),
                    blocked: true,
                    running: false,
                    blocked_in: None,
                    caller: None,
                    blocked_for_ns: None,
                },
            );
            self
        }
        fn lock(mut self, id: LockId, kind: &str) -> Self {
            self.0.locks.insert(
                id,
                LockNode {
                    id,
                    kind: kind.into(),
                    name: format!("{kind}@{id:#x}"),
                    can_be_held: kind != "completion",
                    held_by: Vec::new(),
                },
            );
            self
        }
        fn waits(mut self, task: TaskId, lock: LockId, c: Certainty) -> Self {
            self.0.waits.push(Wait {
                task,
                lock,
                mode: "exclusive".into(),
                position: None,
                certainty: c,
            });
            self
        }
        fn holds(mut self, task: TaskId, lock: LockId, c: Certainty) -> Self {
            self.0.holds.push(Hold {
                lock,
                task,
                mode: "exclusive".into(),
                certainty: c,
            });
            self
        }
    }

    fn fact() -> Certainty {
        Certainty::fact("test")
    }
    fn guess(c: f64) -> Certainty {
        Certainty::inference(c, vec!["test".into()])
    }

    /// Two readings of a running kernel: what the second does not confirm becomes a guess of
    /// at most 50% that says why; what both show keeps its certainty.
    #[test]
    fn relations_a_second_reading_does_not_show_are_guesses() {
        let first = || {
            G::new()
                .task(1, "holder")
                .task(2, "waiter")
                .lock(0x10, "mutex")
                .holds(1, 0x10, fact())
                .waits(2, 0x10, fact())
                .waits(1, 0x20, guess(0.8))
        };
        let mut g = first().0;
        assert_eq!(
            g.mark_unstable(&first().0),
            0,
            "a dump read twice is the same"
        );
        // The second reading: the waiter left, the holder's guessed wait is gone too.
        let again = G::new()
            .task(1, "holder")
            .lock(0x10, "mutex")
            .holds(1, 0x10, fact())
            .0;
        assert_eq!(g.mark_unstable(&again), 2);
        assert!(matches!(g.holds[0].certainty, Certainty::Fact { .. }));
        for w in &g.waits {
            let Certainty::Inference {
                confidence,
                reasons,
            } = &w.certainty
            else {
                panic!("{w:?} is still a fact");
            };
            assert!(*confidence <= 0.5, "{confidence}");
            assert!(
                reasons.iter().any(|r| r.starts_with("changed while read")),
                "{reasons:?}"
            );
        }
    }

    #[test]
    fn the_seed_incident_is_a_self_deadlock_with_two_tasks_behind_it() {
        // kscand (1) holds mmap_lock (0x10) for read and waits for the page (0x20) it locked;
        // kcollapsed (2) and bench (3) queue on the mmap_lock.
        let g = G::new()
            .task(1, "kscand")
            .task(2, "kcollapsed")
            .task(3, "bench")
            .lock(0x10, "rwsem")
            .lock(0x20, "page_lock")
            .holds(1, 0x10, guess(0.8))
            .waits(1, 0x20, fact())
            .holds(1, 0x20, guess(0.9))
            .waits(2, 0x10, fact())
            .waits(3, 0x10, fact());
        let a = g.0.analyse();
        assert_eq!(a.cycles.len(), 1);
        assert_eq!(a.cycles[0].tasks, [1]);
        assert!(!a.cycles[0].all_facts);
        assert_eq!(a.root_causes.len(), 1, "{:#?}", a.root_causes);
        let r = &a.root_causes[0];
        assert_eq!(r.kind, RootKind::SelfDeadlock { lock: 0x20 });
        assert_eq!(r.tasks, [1]);
        assert_eq!(r.blocked_behind, [2, 3]);
        assert!((r.confidence - 0.8).abs() < 1e-9, "{}", r.confidence);
    }

    #[test]
    fn the_waiters_of_a_lock_with_no_holder_found_are_one_root() {
        // Two tasks queued on a mutex whose holder is not in the dump; a third waits for a
        // lock one of them holds.
        let g = G::new()
            .task(1, "w1")
            .task(2, "w2")
            .task(3, "behind")
            .lock(0x10, "mutex")
            .lock(0x20, "mutex")
            .waits(1, 0x10, fact())
            .waits(2, 0x10, fact())
            .holds(2, 0x20, fact())
            .waits(3, 0x20, fact());
        let a = g.0.analyse();
        assert_eq!(a.root_causes.len(), 1, "{:#?}", a.root_causes);
        let r = &a.root_causes[0];
        assert_eq!(r.kind, RootKind::HolderUnknown { lock: 0x10 });
        assert_eq!(r.tasks, [1, 2]);
        assert_eq!(r.blocked_behind, [3]);
    }

    #[test]
    fn abba_is_one_deadlock_of_two_facts() {
        let g = G::new()
            .task(1, "abba_a")
            .task(2, "abba_b")
            .lock(0x10, "mutex")
            .lock(0x20, "mutex")
            .holds(1, 0x10, fact())
            .holds(2, 0x20, fact())
            .waits(1, 0x20, fact())
            .waits(2, 0x10, fact());
        let a = g.0.analyse();
        assert_eq!(a.cycles.len(), 1);
        assert_eq!(a.cycles[0].tasks, [1, 2]);
        assert_eq!(a.cycles[0].locks, [0x20, 0x10]);
        assert!(a.cycles[0].all_facts);
        assert_eq!(a.root_causes.len(), 1);
        assert_eq!(a.root_causes[0].kind, RootKind::Deadlock { cycle: 0 });
        assert_eq!(a.root_causes[0].tasks, [1, 2]);
    }

    #[test]
    fn a_chain_of_mutexes_ends_at_the_sleeping_holder() {
        // chain_a (1) holds m1 and sleeps; chain_b (2) holds m2, waits m1; chain_c (3) waits m2.
        let g = G::new()
            .task(1, "chain_a")
            .task(2, "chain_b")
            .task(3, "chain_c")
            .lock(0x10, "mutex")
            .lock(0x20, "mutex")
            .holds(1, 0x10, fact())
            .holds(2, 0x20, fact())
            .waits(2, 0x10, fact())
            .waits(3, 0x20, fact());
        let a = g.0.analyse();
        assert!(a.cycles.is_empty());
        assert_eq!(a.root_causes.len(), 1, "{:#?}", a.root_causes);
        let r = &a.root_causes[0];
        assert_eq!(r.kind, RootKind::HolderSleeping { lock: 0x10 });
        assert_eq!(r.tasks, [1]);
        assert_eq!(r.blocked_behind, [2, 3]);
        let c = a.chains.iter().find(|c| c.task == 3).unwrap();
        assert_eq!(
            c.steps.iter().map(|s| s.lock).collect::<Vec<_>>(),
            [0x20, 0x10]
        );
    }

    #[test]
    fn a_semaphore_held_by_two_sleepers_blames_both() {
        let g = G::new()
            .task(1, "sem_holder1")
            .task(2, "sem_holder2")
            .task(3, "sem_waiter")
            .lock(0x10, "semaphore")
            .holds(1, 0x10, guess(0.7))
            .holds(2, 0x10, guess(0.7))
            .waits(3, 0x10, fact());
        let a = g.0.analyse();
        assert_eq!(a.root_causes.len(), 1, "{:#?}", a.root_causes);
        assert_eq!(a.root_causes[0].tasks, [1, 2]);
        assert_eq!(a.root_causes[0].blocked_behind, [3]);
    }

    #[test]
    fn a_completion_nobody_completes_blames_the_wait_itself() {
        let g = G::new()
            .task(1, "done_waiter")
            .lock(0x10, "completion")
            .waits(1, 0x10, fact());
        let a = g.0.analyse();
        assert_eq!(a.root_causes.len(), 1);
        assert_eq!(
            a.root_causes[0].kind,
            RootKind::NothingToWake { lock: 0x10 }
        );
        assert_eq!(a.root_causes[0].tasks, [1]);
    }

    #[test]
    fn a_lock_without_a_known_holder_says_so() {
        let g = G::new()
            .task(1, "w")
            .lock(0x10, "mutex")
            .waits(1, 0x10, fact());
        let a = g.0.analyse();
        assert_eq!(
            a.root_causes[0].kind,
            RootKind::HolderUnknown { lock: 0x10 }
        );
    }

    #[test]
    fn independent_hangs_are_ranked_by_how_many_wait_behind_them() {
        let g = G::new()
            .task(1, "a")
            .task(2, "b")
            .task(3, "c")
            .task(4, "d")
            .task(5, "lonely")
            .lock(0x10, "mutex")
            .lock(0x20, "mutex")
            .holds(1, 0x10, fact())
            .waits(2, 0x10, fact())
            .waits(3, 0x10, fact())
            .holds(4, 0x20, fact());
        let a = g.0.analyse();
        let tasks: Vec<_> = a.root_causes.iter().map(|r| r.tasks.clone()).collect();
        // 4 holds a lock nobody waits for: it is only stuck, like 5.
        assert_eq!(tasks, [vec![1], vec![4], vec![5]], "{:#?}", a.root_causes);
        assert_eq!(a.root_causes[1].kind, RootKind::Stuck);
    }
}
