"""kube-scheduler's DefaultPreemption PostFilter plugin and its Evaluator, as kubernetes v1.34.4 runs them.

Sources (kubernetes v1.34.4, ``pkg/scheduler/``):
``framework/plugins/defaultpreemption/default_preemption.go`` (eligibility, ``SelectVictimsOnNode``,
``filterPodsWithPDBViolation``, ``GetOffsetAndNumCandidates``, the PreEnqueue gate),
``framework/preemption/preemption.go`` (``Preempt``, ``findCandidates``,
``DryRunPreemption``, ``SelectCandidate``/``pickOneNodeForPreemption``, ``prepareCandidateAsync``,
``PreemptPod``, ``getLowerPriorityNominatedPods``), ``util/utils.go`` (``MoreImportantPod``,
``GetPodStartTime``, ``GetEarliestPodStartTime``). ``SchedulerAsyncPreemption`` is on by default since
v1.33 (``pkg/features/kube_features.go``), so preemption's API calls run after the scheduling cycle:

1. A pod that fits no node, is eligible (not ``preemptionPolicy: Never``; no lower-priority pod the
   scheduler preempted still terminating on its nominated node, unless that node is now
   UnschedulableAndUnresolvable), dry-runs preemption on the nodes whose failure was only Unschedulable:
   from a random offset, until it has ``max(10 % of them, 100)`` candidates and at least one that violates
   no PodDisruptionBudget.
2. On a node, every lower-priority pod is taken off; if the pod then passes the filters (with the pods
   of at least its priority nominated there), victims are reprieved, most important first and the
   PDB-violating ones before the rest, as long as the pod still fits.
3. One candidate is chosen: fewest PDB violations, lowest highest-victim priority, smallest sum of
   priorities (each + 2^31), fewest victims, latest start of the highest-priority victims, then the first.
4. The pod is nominated to that node (PodNominated) and its preemption runs asynchronously: lower-priority
   pods nominated to the node lose their nomination; each victim gets the DisruptionTarget condition
   (PodPreempted) and a graceful DELETE one API delete latency later, all but the last in parallel; the
   pod is held back by PreEnqueue until those are done, just before the last victim's DELETE.

How this differs from the real scheduler, and why: the dry run checks nodes one at a time
(``parallelism = 1``, as the upstream tests pin it) over the nodes in the scheduler's node order from the
offset, where the real one runs 16 goroutines over a Go map's order, so "the first" of tied candidates is
the first from the offset; equal-importance victims keep the node's pod order (Go's ``sort.Slice`` is not
stable); the random offset is drawn only when some node holds a pod of lower priority (otherwise no
candidate can exist and the draw changes nothing); victims waiting at Permit, extenders and PDB
``status.disruptedPods`` are not modelled.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lwssim.engine.context import Cluster
from lwssim.engine.nodes import delete_pod
from lwssim.engine.objects import Pod, PodDisruptionBudget
from lwssim.engine.scheduling import plugins as P
from lwssim.engine.scheduling.cache import PodShape
from lwssim.engine.scheduling.candidates import PRIORITY_OFFSET, KeptVerdicts, Needs, first_from, judge, pick
from lwssim.engine.scheduling.cycle import NodeStatus, SchedulingCycle
from lwssim.engine.scheduling.fiterror import (
    NO_VICTIMS,
    NOT_ELIGIBLE_NEVER,
    NOT_ELIGIBLE_TERMINATING,
    NOT_HELPFUL,
    POST_FILTER_ERROR,
    POST_FILTER_SUCCESS,
    POST_FILTER_UNSCHEDULABLE,
    Diagnosis,
    PostFilterResult,
    histogram_message,
    preemption_message,
)
from lwssim.engine.scheduling.nodepods import start_time
from lwssim.engine.scheduling.nominator import Nominator
from lwssim.engine.scheduling.profile import (
    F_FIT,
    OK,
    REASON_OF_STAGE,
    UNRESOLVABLE_STAGES,
)
from lwssim.engine.scheduling.queue import SchedulingQueue
from lwssim.engine.scheduling.ties import TieBreak
from lwssim.engine.tasks import Task
from lwssim.timeline import POD_PREEMPTED

PREEMPT_NEVER = "Never"
MIN_CANDIDATE_NODES_PERCENTAGE = 10  # DefaultPreemptionArgs defaults (apis/config/v1/defaults.go)
MIN_CANDIDATE_NODES_ABSOLUTE = 100
FEW_STALE = 4  # up to this many changed nodes, kept verdicts are judged node by node

# The dry run's status of a node without lower-priority pods (UnschedulableAndUnresolvable, NO_VICTIMS).
NO_VICTIMS_STATUS: NodeStatus = (-1, ())


@dataclass
class Candidate:
    """A node preemption can make room on, with its victims (most important first) and how many of them
    a PodDisruptionBudget does not allow to go (``preemption.Candidate``, ``extenderv1.Victims``)."""

    node: int
    victims: list[Pod]
    pdb_violations: int


@dataclass
class RequestsView:
    """One dry run's view of every node when only requests matter: the lower-priority pods on each node,
    whether the pod fits once they are all gone, and what is then free in each resource it requests."""

    count: list[int]
    fits: list[bool]
    avail: list[list[int]]  # per (resource, amount) the pod needs: per node


def importance(pod: Pod) -> tuple[int, float]:
    """Sort key for ``MoreImportantPod``: higher priority first, then the earlier start."""
    return -pod.template.priority, start_time(pod)


def calculate_num_candidates(
    num_nodes: int,
    percentage: int = MIN_CANDIDATE_NODES_PERCENTAGE,
    absolute: int = MIN_CANDIDATE_NODES_ABSOLUTE,
) -> int:
    """``calculateNumCandidates``: ``percentage`` % of the nodes, at least ``absolute``, at most all."""
    n = num_nodes * percentage // 100
    return min(max(n, absolute), num_nodes)


def reprieve(
    violating: list[Pod], non_violating: list[Pod], still_fits: Callable[[Pod], bool]
) -> tuple[list[Pod], int]:
    """``SelectVictimsOnNode``'s reprieve: each pod, PDB-violating ones first, most important first
    within each, goes back on the node when ``still_fits`` (which puts it back) says the preemptor still
    fits; the others are the victims, most important first, with how many of them violate a PDB."""
    victims: list[Pod] = []
    violations = 0
    for group, counts in ((violating, True), (non_violating, False)):
        for p in group:
            if not still_fits(p):
                victims.append(p)
                if counts:
                    violations += 1
    if violating and non_violating:
        victims.sort(key=importance)
    return victims, violations


def filter_pods_with_pdb_violation(
    pods: list[Pod], pdbs: list[PodDisruptionBudget]
) -> tuple[list[Pod], list[Pod]]:
    """``filterPodsWithPDBViolation``: (violating, non-violating), each in the given order. Each matching
    PDB's ``disruptionsAllowed`` is spent pod by pod; a pod whose budget goes below zero violates it. A
    PDB matches pods of its namespace its selector selects; an empty selector selects nothing, and a pod
    without labels matches no PDB."""
    allowed = [pdb.disruptions_allowed for pdb in pdbs]
    violating: list[Pod] = []
    non_violating: list[Pod] = []
    for pod in pods:
        violated = False
        if pod.labels:
            for k, pdb in enumerate(pdbs):
                if pdb.namespace != pod.namespace or not pdb.selector.requirements():
                    continue
                if not pdb.selector.matches(pod.labels):
                    continue
                allowed[k] -= 1
                if allowed[k] < 0:
                    violated = True
        (violating if violated else non_violating).append(pod)
    return violating, non_violating


def pick_one_node_for_preemption(candidates: list[Candidate]) -> Candidate:
    """``pickOneNodeForPreemption``: each score in turn keeps the best-scored candidates, the first left
    wins; that is the first candidate with the greatest score tuple. Victims are sorted most important
    first."""
    best = candidates[0]
    best_score = _preemption_score(best)
    for c in candidates[1:]:
        score = _preemption_score(c)
        if score > best_score:
            best, best_score = c, score
    return best


def _preemption_score(c: Candidate) -> tuple[int, int, int, int, float]:
    """The scores in precedence order: fewest PDB violations, lowest highest victim priority, smallest
    sum of priorities (each + MaxInt32 + 1), fewest victims, latest start of the highest-priority
    victims."""
    victims = c.victims
    top = victims[0].template.priority
    if len(victims) == 1:
        return -c.pdb_violations, -top, -(top + PRIORITY_OFFSET), -1, start_time(victims[0])
    return (
        -c.pdb_violations,
        -top,
        -sum(v.template.priority + PRIORITY_OFFSET for v in victims),
        -len(victims),
        earliest_start_of_highest_priority(victims),
    )


def earliest_start_of_highest_priority(victims: list[Pod]) -> float:
    """``GetEarliestPodStartTime``: the earliest start among the victims of the highest priority."""
    top = max(v.template.priority for v in victims)
    return min(start_time(v) for v in victims if v.template.priority == top)


def terminating_by_preemption(pod: Pod) -> bool:
    """``podTerminatingByPreemption``: deleting, with the DisruptionTarget condition the scheduler sets."""
    return pod.deleting and bool(pod.preempted_by)


class DefaultPreemption:
    """The plugin's PostFilter and its Evaluator; its PreEnqueue is the queue's check of ``preempting``.
    ``nominate`` is the framework's status patch of a pod's nominatedNodeName ("" clears it) together with
    what the scheduler's informer does on it."""

    def __init__(
        self,
        cluster: Cluster,
        cycle: SchedulingCycle,
        queue: SchedulingQueue,
        nominator: Nominator,
        ties: TieBreak,
        nominate: Callable[[Pod, str], None],
    ) -> None:
        self.cluster = cluster
        self.env, self.store, self.timeline = cluster.env, cluster.store, cluster.timeline
        self.cycle, self.cache, self.nodes = cycle, cycle.cache, cycle.nodes
        self.queue, self.nominator, self.ties, self.nominate = queue, nominator, ties, nominate
        # Evaluator.preempting: pods whose preemption is still being carried out. PreEnqueue holds them
        # back: the queue reads this set.
        self.preempting = queue.preempting
        self.delete_latency = cluster.api.delete
        # DefaultPreemptionArgs (the default profile's)
        self.min_candidate_nodes_percentage = MIN_CANDIDATE_NODES_PERCENTAGE
        self.min_candidate_nodes_absolute = MIN_CANDIDATE_NODES_ABSOLUTE
        # the dry run's verdicts on every node, per preemptor priority and request, judged again on the
        # nodes whose pods, free resources or nominated pods changed
        self._kept: dict[tuple[int, Needs], KeptVerdicts] = {}

    def _node_changed(self, i: int) -> None:
        for kept in self._kept.values():
            kept.changed(i)

    # -- PostFilter
    def post_filter(self, pod: Pod, diagnosis: Diagnosis) -> tuple[int, str, PostFilterResult | None]:
        """``PostFilter`` → ``Evaluator.Preempt``: the status code, its message ("preemption: " + the
        Evaluator's), and the result."""
        eligible, why = self.eligible_to_preempt_others(pod, diagnosis)
        if not eligible:
            return POST_FILTER_UNSCHEDULABLE, f"preemption: {why}", None
        n = self.nodes.present_count
        if not self.cache.any_below(pod.template.priority):  # no victim on any node, whatever the offset
            return (
                POST_FILTER_UNSCHEDULABLE,
                preemption_message(n, diagnosis.unresolvable()),
                PostFilterResult(""),
            )
        helpful = diagnosis.helpful_nodes()
        if len(helpful) == 0:  # NewDefaultNodeToStatus: every node absent, "not helpful"
            return POST_FILTER_UNSCHEDULABLE, preemption_message(n, n), PostFilterResult("")
        offset, wanted = self.get_offset_and_num_candidates(len(helpful))
        if self._only_requests(pod) and not self._any_pdb():
            chosen = self.dry_run_and_pick_by_requests(pod, helpful, offset, wanted)
            if chosen is not None:
                return (
                    POST_FILTER_SUCCESS,
                    "",
                    PostFilterResult(self.nodes.names[chosen.node], tuple(chosen.victims)),
                )
        # No candidate (the statuses make the message), PDBs or inter-pod terms: node by node.
        candidates, statuses, errors = self.dry_run(pod, helpful.tolist(), offset, wanted)
        if not candidates:
            if errors:
                return POST_FILTER_ERROR, f"preemption: {_aggregate(errors)}", None
            return (
                POST_FILTER_UNSCHEDULABLE,
                "preemption: " + self._fit_error(n, statuses),
                PostFilterResult(""),
            )
        best = candidates[0] if len(candidates) == 1 else pick_one_node_for_preemption(candidates)
        return POST_FILTER_SUCCESS, "", PostFilterResult(self.nodes.names[best.node], tuple(best.victims))

    def eligible_to_preempt_others(self, pod: Pod, diagnosis: Diagnosis) -> tuple[bool, str]:
        """``PodEligibleToPreemptOthers``."""
        if pod.template.preemption_policy == PREEMPT_NEVER:
            return False, NOT_ELIGIBLE_NEVER
        if pod.nominated_node is None:
            return True, ""
        i = self.nodes.index.get(pod.nominated_node)
        if i is None:
            return True, ""
        if _unresolvable_at(diagnosis, i):  # the nominated node cannot take it any more: preempt again
            return True, ""
        priority = pod.template.priority
        for p in self.cache.pods_on(i):
            if p.template.priority < priority and terminating_by_preemption(p):
                return False, NOT_ELIGIBLE_TERMINATING
        return True, ""

    def nodes_where_preemption_might_help(self, diagnosis: Diagnosis) -> list[int]:
        """``NodesForStatusCode(Unschedulable)``: nodes whose filter failure was not Unresolvable."""
        return diagnosis.helpful_nodes().tolist()

    def get_offset_and_num_candidates(self, num_nodes: int) -> tuple[int, int]:
        """``GetOffsetAndNumCandidates``: a random offset (the scheduler's seeded generator) and how many
        candidates to look for."""
        wanted = calculate_num_candidates(
            num_nodes, self.min_candidate_nodes_percentage, self.min_candidate_nodes_absolute
        )
        return self.ties.below(num_nodes), wanted

    def dry_run(
        self, pod: Pod, potential: list[int], offset: int, wanted: int
    ) -> tuple[list[Candidate], dict[int, NodeStatus], list[str]]:
        """``DryRunPreemption``, one node at a time from ``offset``: stop once there are ``wanted``
        candidates and one of them violates no PDB. Each list of candidates (non-violating, violating)
        holds at most ``wanted``; the non-violating come first. Also the failed nodes' statuses and the
        errors."""
        pdbs = [o for o in self.store.list("PodDisruptionBudget") if isinstance(o, PodDisruptionBudget)]
        shape = self.cache.shape(pod)
        # Without inter-pod terms anywhere, only NodeResourcesFit can change as pods are removed and
        # added: the dry run counts requests, for every node at once, instead of filtering node by node.
        view: RequestsView | None = None
        if self._only_requests(pod):
            view = self._requests_view(pod, shape)
        non_violating: list[Candidate] = []
        violating: list[Candidate] = []
        statuses: dict[int, NodeStatus] = {}
        errors: list[str] = []
        for k in range(len(potential)):
            i = potential[(offset + k) % len(potential)]
            if view is not None:
                if view.count[i] == 0:  # the common refusals, without a call
                    statuses[i] = NO_VICTIMS_STATUS
                    continue
                victims, violations, status = self._select_by_requests(pod, shape, i, pdbs, view)
            else:
                victims, violations, status = self.select_victims_on_node(pod, shape, i, pdbs)
            if status[0] == OK and victims:
                found = non_violating if violations == 0 else violating
                if len(found) < wanted:
                    found.append(Candidate(i, victims, violations))
                if non_violating and len(non_violating) + len(violating) >= wanted:
                    break
                continue
            if status[0] == OK:  # an Error status: it ends the preemption when no node is a candidate
                errors.append(f'expected at least one victim pod on node "{self.nodes.names[i]}"')
                continue
            statuses[i] = status
        return non_violating + violating, statuses, errors

    def _only_requests(self, pod: Pod) -> bool:
        """No inter-pod terms anywhere: only NodeResourcesFit can change as pods are removed and added."""
        return not (
            pod.affinity
            or pod.anti_affinity
            or self.cache.index.term_tables
            or self.nominator.any_anti_affinity()
        )

    def _any_pdb(self) -> bool:
        return any(isinstance(o, PodDisruptionBudget) for o in self.store.list("PodDisruptionBudget"))

    def dry_run_and_pick_by_requests(
        self, pod: Pod, potential: np.ndarray, offset: int, wanted: int
    ) -> Candidate | None:
        """``dry_run`` + ``pick_one_node_for_preemption`` for every node at once, where only requests
        matter and no PodDisruptionBudget exists (every candidate violates none): the same choice and
        victims as node by node (``candidates.py``), or None when no node is a candidate. For a pod that
        is not nominated, every node's verdict is kept and only the nodes changed since are judged again."""
        priority = pod.template.priority
        needs = self.cache.shape(pod).needs
        cols = [col for col, _ in needs]
        lower, count = self.cache.below_rows(priority, cols)
        free = [self.nodes.free_by_res[col] for col in cols]
        table = self.cache.node_pods
        if self.nominator.node_of(pod) is None:  # the kept verdicts count every nominated pod
            kept = self._kept.get((priority, needs))
            if kept is None:
                if not self._kept:  # from the first preemption on, changed nodes are judged again
                    self.cache.watch(self._node_changed)
                    self.nominator.watch(self._node_changed)
                kept = self._kept[priority, needs] = KeptVerdicts(len(self.nodes), needs, priority)
            stale = kept.stale(len(self.nodes))
            if stale is not None and len(stale) <= FEW_STALE:  # one by one costs less than NumPy calls
                for i in stale.tolist():
                    kept.store_one(i, self._verdict_at(priority, needs, i, lower, count))
            elif stale is not None:
                held = self.nominator.rows_at_least(priority, cols, stale)
                kept.store(judge(table, free, lower, count, held, needs, priority, stale))
            best = kept.choose(potential, offset, wanted)
            if best is None:
                return None
            held = self.nominator.rows_at_least(priority, cols, np.array([best]))
        else:  # its own nomination left out (addGENominatedPods): judged afresh
            rows = self.nominator.held_rows(pod, cols)
            verdicts = judge(
                table,
                free,
                lower,
                count,
                None if rows is None else [r[potential] for r in rows],
                needs,
                priority,
                potential,
            )
            pos = first_from(verdicts.candidate, offset, wanted)
            if len(pos) == 0:
                return None
            ranks = (np.cumsum(verdicts.candidate) - 1)[pos]  # the candidates' places among the verdicts
            k = pick(
                verdicts.top[ranks], verdicts.total[ranks], verdicts.number[ranks], verdicts.earliest[ranks]
            )
            best = int(potential[pos[k]])
            held = None if rows is None else [r[[best]] for r in rows]
        # its victims, reprieved one by one (the node-by-node dry run's own reprieve)
        avail = [
            int(free[k][best] + lower[k][best] - (0 if held is None else held[k][0]))
            for k in range(len(cols))
        ]
        victims, _ = self._reprieve_by_requests(priority, needs, best, [], avail)
        return Candidate(best, victims, 0)

    def _verdict_at(
        self, priority: int, needs: Needs, i: int, lower: list[np.ndarray], count: np.ndarray
    ) -> tuple[int, int, int, float] | None:
        """``judge`` on node ``i`` alone, node by node: None when it is not a candidate, else its victims'
        scores (highest priority, sum of priorities each + MaxInt32 + 1, number, earliest start among the
        highest-priority ones)."""
        if count[i] == 0:
            return None
        held = self.nominator.requests_on(i, priority, needs)
        rows = self.nodes.free_rows
        avail = []
        crowded = False
        for k, (col, need) in enumerate(needs):
            now = rows[col].item(i) - (held[k] if held is not None else 0)
            left = now + lower[k].item(i)
            if left < need:
                return None
            crowded = crowded or now < need
            avail.append(left)
        if not crowded:
            return None
        victims, _ = self._reprieve_by_requests(priority, needs, i, [], avail)
        _, top, total, number, earliest = _preemption_score(Candidate(i, victims, 0))
        return -top, -total, -number, earliest

    def select_victims_on_node(
        self, pod: Pod, shape: PodShape, i: int, pdbs: list[PodDisruptionBudget]
    ) -> tuple[list[Pod], int, NodeStatus]:
        """``SelectVictimsOnNode``: the fewest lower-priority pods to remove from node ``i`` for ``pod``
        to fit, the number of them whose PDB forbids it, and the status (OK, or why even removing every
        lower-priority pod is not enough). The node is filtered with the pods of at least ``pod``'s
        priority nominated to it (``RunFilterPluginsWithNominatedPods``)."""
        potential = self.cache.pods_below(i, pod.template.priority)
        if not potential:
            return [], 0, NO_VICTIMS_STATUS
        nominated = self.nominator.at_least_on(pod, i)
        cycle = self.cycle
        status = cycle.filter_with_nominated_at(pod, shape, i, potential, nominated)
        if status[0] != OK:
            return [], 0, status
        potential.sort(key=importance)
        violating, non_violating = filter_pods_with_pdb_violation(potential, pdbs)
        removed = list(potential)

        def still_fits(p: Pod) -> bool:
            removed.remove(p)  # reprieve it: does the pod still fit?
            if cycle.filter_with_nominated_at(pod, shape, i, removed, nominated)[0] == OK:
                return True
            removed.append(p)
            return False

        victims, violations = reprieve(violating, non_violating, still_fits)
        return victims, violations, (OK, ())

    def _requests_view(self, pod: Pod, shape: PodShape) -> RequestsView:
        """Per node, what would be free for ``pod`` with every lower-priority pod removed and the pods
        nominated there put on (the stricter of RunFilterPluginsWithNominatedPods' passes), in each
        resource it requests, and how many lower-priority pods there are."""
        priority = pod.template.priority
        lower, count = self.cache.below(priority)
        held = self.nominator.requests_at_least(pod)
        free = self.nodes.free_by_res
        avail = []
        fits = np.ones(len(self.nodes), dtype=bool)
        for col, need in shape.needs:
            row = free[col] + lower[col]
            if held is not None:
                row = row - held[col]
            fits &= row >= need
            avail.append(row.tolist())
        return RequestsView(count.tolist(), fits.tolist(), avail)

    def _select_by_requests(
        self, pod: Pod, shape: PodShape, i: int, pdbs: list[PodDisruptionBudget], view: RequestsView
    ) -> tuple[list[Pod], int, NodeStatus]:
        """``select_victims_on_node`` where only NodeResourcesFit can fail (no inter-pod terms): each
        reprieve spends what removing every lower-priority pod frees."""
        if view.count[i] == 0:
            return [], 0, NO_VICTIMS_STATUS
        needs = shape.needs
        if not view.fits[i]:
            return (
                [],
                0,
                (F_FIT, tuple(col for k, (col, need) in enumerate(needs) if view.avail[k][i] < need)),
            )
        victims, violations = self._reprieve_by_requests(
            pod.template.priority, needs, i, pdbs, [row[i] for row in view.avail]
        )
        return victims, violations, (OK, ())

    def _reprieve_by_requests(
        self, priority: int, needs: Needs, i: int, pdbs: list[PodDisruptionBudget], free: list[int]
    ) -> tuple[list[Pod], int]:
        """The victims on node ``i`` of a preemptor of ``priority`` and how many violate a PDB, where only
        requests matter: ``free`` is what the preemptor would have of each resource it needs with every
        lower-priority pod gone; each reprieve spends some of it. Victims come most important first."""
        potential = self.cache.pods_below(i, priority)
        if len(potential) > 1:
            potential.sort(key=importance)
        if pdbs:
            violating, non_violating = filter_pods_with_pdb_violation(potential, pdbs)
        else:
            violating, non_violating = [], potential
        cache = self.cache

        def still_fits(p: Pod) -> bool:
            held = dict(cache.needs_of(p))
            take = [held.get(col, 0) for col, _ in needs]
            for k in range(len(needs)):
                if free[k] - take[k] < needs[k][1]:
                    return False
            for k in range(len(needs)):
                free[k] -= take[k]
            return True

        return reprieve(violating, non_violating, still_fits)

    def _fit_error(self, n: int, statuses: dict[int, NodeStatus]) -> str:
        """The dry run's FitError: each failed node under its reasons, the nodes it never tried (absent)
        under "Preemption is not helpful for scheduling"."""
        resources = self.nodes.resources
        reasons: Counter[str] = Counter()
        for code, short in statuses.values():
            if code == NO_VICTIMS_STATUS[0]:
                reasons[NO_VICTIMS] += 1
            elif code == F_FIT:  # one reason per lacking resource (fitsRequest)
                for col in short:
                    reasons[P.fit_reason(resources[col])] += 1
            else:
                reasons[REASON_OF_STAGE[code]] += 1
        reasons[NOT_HELPFUL] += n - len(statuses)
        return histogram_message(n, reasons)

    # -- the preemption itself
    def prepare_candidate_async(self, pod: Pod, node: str, victims: tuple[Pod, ...]) -> None:
        """``prepareCandidateAsync``: mark the pod as preempting, then carry the preemption out after the
        scheduling cycle."""
        self.preempting.add(pod.uid)
        Task(self.env, self._preempt(pod, node, victims))

    def _preempt(self, preemptor: Pod, node: str, victims: tuple[Pod, ...]):
        """The goroutine: clear lower-priority nominations on the node; then every victim but the last in
        parallel (DisruptionTarget patch, then DELETE, one API latency each); the pod leaves the preempting
        set; then the last victim. Status patches apply at once (ApiLatency). A victim whose object is gone
        fails its patch, which cancels the goroutine's context: the last victim is spared, and the pod is
        activated when the goroutine ends with an error."""
        failed = False
        i = self.nodes.index[node]
        priority = preemptor.template.priority
        for p in self.nominator.pods_on(i):  # getLowerPriorityNominatedPods + clearNominatedNodeName
            if p.template.priority < priority:
                self.nominate(p, "")
        start = self.env.now
        pending: list[tuple[float, int]] = []
        for k, victim in enumerate(victims[:-1]):
            if self._disruption_target(preemptor, victim, node):
                pending.append((self.delete_latency(), k))
            else:
                failed = True
        pending.sort()
        for latency, k in pending:
            wait = start + latency - self.env.now
            if wait > 0:
                yield self.env.timeout(wait)
            self._delete(preemptor, victims[k])
        self.preempting.discard(preemptor.uid)
        last = victims[-1]
        if not failed and self._disruption_target(preemptor, last, node):
            latency = self.delete_latency()
            if latency > 0:
                yield self.env.timeout(latency)
            self._delete(preemptor, last)
        else:
            failed = True
        if failed:  # the Handler's Activate: back to the active queue, rather than stuck parked
            self.queue.activate(preemptor)

    def _disruption_target(self, preemptor: Pod, victim: Pod, node: str) -> bool:
        """``PreemptPod``'s status patch: the DisruptionTarget condition (reason PreemptionByScheduler),
        once. False when the victim's object is gone (NotFound)."""
        if not victim.stored:
            return False
        if not victim.preempted_by:
            victim.preempted_by = preemptor.name
            victim.record(
                self.timeline,
                self.env.now,
                POD_PREEMPTED,
                by=preemptor.name,
                node=node,
                priority=victim.template.priority,
                by_priority=preemptor.template.priority,
            )
            self.store.update(victim)
        return True

    def _delete(self, preemptor: Pod, victim: Pod) -> None:
        """``PreemptPod``'s DELETE (graceful; a victim already gone is fine)."""
        reason = (
            f"preempted by {preemptor.name} "
            f"(priority {preemptor.template.priority} > {victim.template.priority})"
        )
        delete_pod(self.cluster, victim, reason)


def _unresolvable_at(diagnosis: Diagnosis, i: int) -> bool:
    """Node ``i``'s filter status is UnschedulableAndUnresolvable."""
    stage = int(diagnosis.stage[i])
    return stage in UNRESOLVABLE_STAGES or (stage == F_FIT and bool(diagnosis.over[i]))


def _aggregate(errors: list[str]) -> str:
    """``utilerrors.NewAggregate(errs).Error()``: one error as itself, several deduplicated in brackets."""
    seen: list[str] = []
    for e in errors:
        if e not in seen:
            seen.append(e)
    return seen[0] if len(seen) == 1 else "[" + ", ".join(seen) + "]"
