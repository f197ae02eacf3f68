// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {CoordinatorRegistry} from "./CoordinatorRegistry.sol";

/// @title RollerStaking: stake, reputation, weight, rewards and settlement of the prover market.
/// @notice Implements the on-chain half of market-spec.md. Coordinators report facts (who was
/// assigned what, in which round, with which outcome and seed); this contract owns the
/// arithmetic: reputation updates, the reward lottery and the reward pool. `market_contracts/
/// rules.py` and `market_contracts/ledger.py` mirror it exactly, and a property test drives both.
contract RollerStaking is ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum Outcome {
        OnTime,
        Late,
        Missed,
        Invalid
    }

    enum TaskKind {
        Block,
        Aggregation
    }

    enum RewardMode {
        Lottery,
        Split
    }

    /// Every market parameter of the spec, fixed at deployment. Parameters the contract does not
    /// use itself (m, t, lateWindow, k, tAgg) live here too so that coordinators, rollers and
    /// auditors read one authoritative copy.
    struct Params {
        uint256 minStake;
        uint256 repMax;
        uint256 repInit;
        uint256 repMin;
        uint256 alphaBps;
        uint256 betaBps;
        uint256 gammaBps;
        uint256 slashBps;
        uint256 reporterBps;
        uint256 unbonding;
        uint256 m;
        uint256 t;
        uint256 lateWindow;
        uint256 k;
        uint256 tAgg;
        uint256 rBlock;
        uint256 rAgg;
        RewardMode rewardMode;
    }

    struct Roller {
        uint256 active;
        uint256 unbonding;
        uint256 rep;
        bool paused;
        bool registered;
    }

    struct Unbonding {
        uint256 amount;
        uint256 releaseTime;
    }

    /// One assignment's outcome as the coordinator saw it. `task` is the L2 block number for a
    /// Block task and the batch index for an Aggregation task; `seed` is the seed of the round
    /// the roller was assigned in (it decides the reward lottery).
    struct OutcomeReport {
        address roller;
        TaskKind kind;
        uint256 task;
        uint256 round;
        Outcome outcome;
        bytes32 seed;
    }

    struct RollerView {
        uint256 active;
        uint256 unbonding;
        uint256 rep;
        bool paused;
        bool registered;
        uint256 weight;
        uint256 claimable;
    }

    uint256 public constant BPS = 10_000;
    bytes32 public constant DOMAIN_REWARD = keccak256("provernet.reward.v1");

    IERC20 public immutable token;
    CoordinatorRegistry public immutable registry;
    /// Largest active stake whose weight (stake * rep) cannot overflow.
    uint256 public immutable maxStake;
    Params private _params;

    mapping(address => Roller) private _rollers;
    address[] private _roster;
    // Release times only grow (constant UNBONDING), so each queue is FIFO: withdraw pops from
    // the head and never scans entries that are still locked.
    mapping(address => Unbonding[]) private _unbondingQueue;
    mapping(address => uint256) private _unbondingHead;

    uint256 public totalActive;
    uint256 public totalUnbonding;
    uint256 public rewardPool;
    uint256 public totalClaimable;
    mapping(address => uint256) public claimable;

    mapping(address => mapping(uint256 => bool)) public batchSettled;
    mapping(address => mapping(TaskKind => mapping(uint256 => bool))) public taskSettled;

    event RollerRegistered(address indexed roller, uint256 rep);
    event Staked(address indexed roller, uint256 amount, uint256 active);
    event UnstakeRequested(address indexed roller, uint256 amount, uint256 releaseTime);
    event Withdrawn(address indexed roller, uint256 amount);
    event RollerPaused(address indexed roller);
    event RollerResumed(address indexed roller);
    event RewardsFunded(address indexed funder, uint256 amount);
    event Claimed(address indexed roller, uint256 amount);
    event ReputationChanged(
        address indexed roller,
        TaskKind kind,
        uint256 indexed task,
        uint256 round,
        Outcome outcome,
        uint256 oldRep,
        uint256 newRep
    );
    event RewardCredited(address indexed roller, TaskKind kind, uint256 indexed task, uint256 amount);
    event BatchSettled(address indexed coordinator, uint256 indexed batch, uint256 outcomes);

    error InvalidParams(string reason);
    error ZeroAmount();
    error BelowMinStake(uint256 newActive, uint256 minStake);
    error StakeTooLarge(uint256 newActive, uint256 maxStake);
    error InsufficientStake(uint256 active, uint256 requested);
    error NotYetReleased(uint256 releaseTime);
    error NothingToWithdraw();
    error NothingToClaim();
    error UnknownRoller(address roller);
    error AlreadyPaused();
    error NotPaused();
    error NotCoordinator(address caller);
    error EmptySettlement();
    error BatchAlreadySettled(uint256 batch);
    error TaskAlreadySettled(TaskKind kind, uint256 task);
    error OutcomesNotSorted(uint256 index);

    constructor(IERC20 token_, CoordinatorRegistry registry_, Params memory params_) {
        _checkParams(params_);
        token = token_;
        registry = registry_;
        _params = params_;
        maxStake = type(uint256).max / params_.repMax;
    }

    function _checkParams(Params memory p) private pure {
        if (p.repMax == 0 || p.repMax > BPS) revert InvalidParams("repMax must be in 1..10000");
        if (p.repMin > p.repInit || p.repInit > p.repMax) {
            revert InvalidParams("need repMin <= repInit <= repMax");
        }
        if (p.alphaBps > BPS || p.betaBps > BPS || p.gammaBps > BPS || p.slashBps > BPS || p.reporterBps > BPS)
        {
            revert InvalidParams("basis points above 10000");
        }
        if (p.minStake == 0) revert InvalidParams("minStake must be positive");
        if (p.m == 0 || p.k == 0) revert InvalidParams("m and k must be positive");
        if (p.lateWindow < p.t) revert InvalidParams("lateWindow must be >= t");
    }

    // ---------------------------------------------------------------- staking

    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Roller storage r = _rollers[msg.sender];
        uint256 newActive = r.active + amount;
        if (newActive < _params.minStake) revert BelowMinStake(newActive, _params.minStake);
        if (newActive > maxStake) revert StakeTooLarge(newActive, maxStake);
        if (!r.registered) {
            // Reputation is kept for life: leaving and restaking does not reset it.
            r.registered = true;
            r.rep = _params.repInit;
            _roster.push(msg.sender);
            emit RollerRegistered(msg.sender, r.rep);
        }
        r.active = newActive;
        totalActive += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit Staked(msg.sender, amount, newActive);
    }

    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Roller storage r = _rollers[msg.sender];
        if (amount > r.active) revert InsufficientStake(r.active, amount);
        r.active -= amount;
        r.unbonding += amount;
        totalActive -= amount;
        totalUnbonding += amount;
        uint256 releaseTime = block.timestamp + _params.unbonding;
        _unbondingQueue[msg.sender].push(Unbonding(amount, releaseTime));
        emit UnstakeRequested(msg.sender, amount, releaseTime);
    }

    /// Withdraws every unbonding entry whose release time has come (inclusive).
    function withdraw() external nonReentrant returns (uint256 amount) {
        Unbonding[] storage queue = _unbondingQueue[msg.sender];
        uint256 head = _unbondingHead[msg.sender];
        while (head < queue.length && queue[head].releaseTime <= block.timestamp) {
            amount += queue[head].amount;
            delete queue[head];
            head++;
        }
        if (amount == 0) {
            if (head < queue.length) revert NotYetReleased(queue[head].releaseTime);
            revert NothingToWithdraw();
        }
        _unbondingHead[msg.sender] = head;
        _rollers[msg.sender].unbonding -= amount;
        totalUnbonding -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Withdrawn(msg.sender, amount);
    }

    /// Stops being selectable without penalty, e.g. for maintenance.
    function pause() external {
        Roller storage r = _rollers[msg.sender];
        if (!r.registered) revert UnknownRoller(msg.sender);
        if (r.paused) revert AlreadyPaused();
        r.paused = true;
        emit RollerPaused(msg.sender);
    }

    function resume() external {
        Roller storage r = _rollers[msg.sender];
        if (!r.registered) revert UnknownRoller(msg.sender);
        if (!r.paused) revert NotPaused();
        r.paused = false;
        emit RollerResumed(msg.sender);
    }

    // ---------------------------------------------------------------- rewards

    function fundRewards(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        rewardPool += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit RewardsFunded(msg.sender, amount);
    }

    function claim() external nonReentrant returns (uint256 amount) {
        amount = claimable[msg.sender];
        if (amount == 0) revert NothingToClaim();
        claimable[msg.sender] = 0;
        totalClaimable -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Claimed(msg.sender, amount);
    }

    // ---------------------------------------------------------------- settlement

    /// Applies one batch's outcomes. `outcomes` must be strictly ascending by
    /// (kind, task, round, roller): that makes every (roller, task, round) appear at most once
    /// and keeps each task's outcomes together, so a task settles whole, in one call, once.
    function settle(uint256 batch, OutcomeReport[] calldata outcomes) external nonReentrant {
        if (!registry.isCoordinator(msg.sender)) revert NotCoordinator(msg.sender);
        if (outcomes.length == 0) revert EmptySettlement();
        if (batchSettled[msg.sender][batch]) revert BatchAlreadySettled(batch);
        batchSettled[msg.sender][batch] = true;

        uint256 start = 0;
        while (start < outcomes.length) {
            uint256 end = _settleTask(outcomes, start);
            start = end;
        }
        emit BatchSettled(msg.sender, batch, outcomes.length);
    }

    /// Settles the task whose outcomes begin at `start`; returns the index after them.
    function _settleTask(OutcomeReport[] calldata outcomes, uint256 start) private returns (uint256 end) {
        TaskKind kind = outcomes[start].kind;
        uint256 task = outcomes[start].task;
        if (start > 0 && !_taskAfter(outcomes[start - 1], kind, task)) revert OutcomesNotSorted(start);
        if (taskSettled[msg.sender][kind][task]) revert TaskAlreadySettled(kind, task);
        taskSettled[msg.sender][kind][task] = true;

        uint256 onTime = 0;
        address winner;
        uint256 bestTicket = type(uint256).max;
        end = start;
        while (end < outcomes.length && outcomes[end].kind == kind && outcomes[end].task == task) {
            OutcomeReport calldata o = outcomes[end];
            if (end > start && !_assignmentAfter(outcomes[end - 1], o)) revert OutcomesNotSorted(end);
            _applyReputation(o);
            if (o.outcome == Outcome.OnTime) {
                onTime++;
                uint256 ticket = uint256(keccak256(abi.encode(o.seed, DOMAIN_REWARD, o.roller)));
                if (winner == address(0) || ticket < bestTicket) {
                    bestTicket = ticket;
                    winner = o.roller;
                }
            }
            end++;
        }
        if (onTime == 0) return end;
        if (kind == TaskKind.Aggregation) {
            for (uint256 i = start; i < end; i++) {
                if (outcomes[i].outcome == Outcome.OnTime) _credit(outcomes[i].roller, kind, task, _params.rAgg);
            }
        } else if (_params.rewardMode == RewardMode.Lottery) {
            _credit(winner, kind, task, _params.rBlock);
        } else {
            uint256 share = _params.rBlock / onTime;
            for (uint256 i = start; i < end; i++) {
                if (outcomes[i].outcome == Outcome.OnTime) _credit(outcomes[i].roller, kind, task, share);
            }
        }
    }

    function _taskAfter(OutcomeReport calldata prev, TaskKind kind, uint256 task) private pure returns (bool) {
        return kind > prev.kind || (kind == prev.kind && task > prev.task);
    }

    function _assignmentAfter(OutcomeReport calldata prev, OutcomeReport calldata o) private pure returns (bool) {
        return o.round > prev.round || (o.round == prev.round && o.roller > prev.roller);
    }

    function _applyReputation(OutcomeReport calldata o) private {
        Roller storage r = _rollers[o.roller];
        if (!r.registered) revert UnknownRoller(o.roller);
        uint256 oldRep = r.rep;
        uint256 newRep = nextReputation(oldRep, o.outcome);
        r.rep = newRep;
        emit ReputationChanged(o.roller, o.kind, o.task, o.round, o.outcome, oldRep, newRep);
    }

    /// The spec's reputation rule, exactly (integer arithmetic, floor division).
    function nextReputation(uint256 rep, Outcome outcome) public view returns (uint256) {
        if (outcome == Outcome.OnTime) return rep + (_params.repMax - rep) * _params.alphaBps / BPS;
        if (outcome == Outcome.Invalid || rep == 0) return 0;
        uint256 penaltyBps = outcome == Outcome.Late ? _params.betaBps : _params.gammaBps;
        uint256 lowered = rep - rep * penaltyBps / BPS;
        return lowered > _params.repMin ? lowered : _params.repMin;
    }

    /// The pool pays at most what it holds.
    function _credit(address roller, TaskKind kind, uint256 task, uint256 amount) private {
        uint256 paid = amount < rewardPool ? amount : rewardPool;
        if (paid == 0) return;
        rewardPool -= paid;
        claimable[roller] += paid;
        totalClaimable += paid;
        emit RewardCredited(roller, kind, task, paid);
    }

    // ---------------------------------------------------------------- views

    function params() external view returns (Params memory) {
        return _params;
    }

    function weightOf(address roller) public view returns (uint256) {
        Roller storage r = _rollers[roller];
        if (r.paused || r.active < _params.minStake || r.rep == 0) return 0;
        return r.active * r.rep;
    }

    function rollerInfo(address roller) external view returns (RollerView memory) {
        Roller storage r = _rollers[roller];
        return RollerView(r.active, r.unbonding, r.rep, r.paused, r.registered, weightOf(roller), claimable[roller]);
    }

    /// Pending unbonding entries, oldest first.
    function unbondingsOf(address roller) external view returns (Unbonding[] memory pending) {
        Unbonding[] storage queue = _unbondingQueue[roller];
        uint256 head = _unbondingHead[roller];
        pending = new Unbonding[](queue.length - head);
        for (uint256 i = head; i < queue.length; i++) {
            pending[i - head] = queue[i];
        }
    }

    function rollerCount() external view returns (uint256) {
        return _roster.length;
    }

    /// Rollers in registration order with their weights; read it with `eth_call` at the L1 block
    /// that committed an L2 block to get that block's roster.
    function rosterPage(uint256 start, uint256 count)
        external
        view
        returns (address[] memory rollers, uint256[] memory weights)
    {
        uint256 end = start + count;
        if (end > _roster.length) end = _roster.length;
        if (start > end) start = end;
        rollers = new address[](end - start);
        weights = new uint256[](end - start);
        for (uint256 i = start; i < end; i++) {
            rollers[i - start] = _roster[i];
            weights[i - start] = weightOf(_roster[i]);
        }
    }
}
