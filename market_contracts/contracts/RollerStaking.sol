// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {CoordinatorRegistry} from "./CoordinatorRegistry.sol";
import {Rollup} from "./Rollup.sol";

/// The single-proof verifier that `zkp.solidity.render_verifier` generates from the block circuit's
/// key (snarkjs's ABI). It answers false for any invalid proof and never reverts.
interface IBlockVerifier {
    function verifyProof(
        uint256[2] calldata a,
        uint256[2][2] calldata b,
        uint256[2] calldata c,
        uint256[4] calldata inputs
    ) external view returns (bool);
}

/// @title RollerStaking: stake, reputation, weight, rewards and settlement of the prover market.
/// @notice Implements the on-chain half of market-spec.md. Coordinators report facts (who was
/// assigned what, in which round, with which outcome and seed); this contract owns the
/// arithmetic: reputation updates, the reward lottery and the reward pool. `market_contracts/
/// rules.py` and `market_contracts/ledger.py` mirror it exactly, and a property test drives both.
/// Anyone can slash a roller with a proof it signed that does not verify (`slashInvalidProof`).
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

    /// A Groth16 proof as the verifier takes it: b in the precompile's order,
    /// [[x.c1, x.c0], [y.c1, y.c0]].
    struct Groth16Proof {
        uint256[2] a;
        uint256[2][2] b;
        uint256[2] c;
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

    /// EIP-712 domain of signed proof submissions: name "provernet", version "1", the chain id and
    /// the Rollup as verifying contract, so a signature cannot be replayed on another chain or
    /// rollup (market-spec.md, "Slashing (trustless)").
    bytes32 public constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant DOMAIN_NAME_HASH = keccak256("provernet");
    bytes32 private constant DOMAIN_VERSION_HASH = keccak256("1");
    /// What a roller signs for every proof it submits: `kind` is a TaskKind, `index` the L2 block
    /// (or batch), `proofHash` = keccak256(abi.encode(a, b, c, publicInputs)).
    bytes32 public constant PROOF_SUBMISSION_TYPEHASH =
        keccak256("ProofSubmission(uint8 kind,uint256 index,uint256 round,bytes32 proofHash)");
    /// Gas the block verifier gets for one check: about 4.8 times what it uses (~210k, four
    /// pairings and four ecMul). It is a fixed amount, checked to be available, because a verifier
    /// short of gas answers false like for an invalid proof: with less, anyone could slash a valid
    /// proof by sending too little gas.
    uint256 public constant VERIFIER_GAS = 1_000_000;
    /// What the call to the verifier must find left: the CALL forwards at most 63/64 of the gas
    /// left, and pays for the account access and the arguments' memory first.
    uint256 private constant VERIFY_CALL_GAS = VERIFIER_GAS + VERIFIER_GAS / 63 + 10_000;

    IERC20 public immutable token;
    CoordinatorRegistry public immutable registry;
    /// Largest active stake whose weight (stake * rep) cannot overflow.
    uint256 public immutable maxStake;
    /// The only account that may wire the Rollup in (`setRollup`), once.
    address public immutable deployer;
    Params private _params;

    /// The Rollup whose blocks signed proofs are about, and the single-proof verifier of its block
    /// circuit. Set once after deployment, since the Rollup is deployed after this contract; zero
    /// until then, and slashing is refused until then.
    Rollup public rollup;
    IBlockVerifier public blockVerifier;
    /// Offenses already slashed, by `offenseKey`.
    mapping(bytes32 => bool) public slashed;

    mapping(address => Roller) private _rollers;
    address[] private _roster;
    // Release times only grow (constant UNBONDING), so each queue is FIFO: withdraw pops from
    // the head and never scans entries that are still locked. Slashing takes from the tail.
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
    event SlashingEnabled(address indexed rollup, address indexed blockVerifier);
    event Slashed(
        address indexed roller,
        address indexed reporter,
        TaskKind kind,
        uint256 indexed index,
        uint256 round,
        bytes32 offense,
        uint256 amount,
        uint256 reporterShare,
        uint256 burned
    );

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
    error NotDeployer(address caller);
    error RollupAlreadySet(address rollup);
    error SlashingNotEnabled();
    /// The signature does not recover to `roller` over this submission, chain id and rollup;
    /// `signer` is whom it recovers to (zero if it recovers to no one).
    error BadSignature(address roller, address signer);
    /// The signed public inputs are not what the Rollup holds for this block and roller.
    error WrongPublicInputs(uint256 index);
    error AlreadySlashed(bytes32 offense);
    error ProofIsValid();
    error NotEnoughGas(uint256 left, uint256 needed);

    constructor(IERC20 token_, CoordinatorRegistry registry_, Params memory params_) {
        _checkParams(params_);
        token = token_;
        registry = registry_;
        _params = params_;
        maxStake = type(uint256).max / params_.repMax;
        deployer = msg.sender;
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

    // ---------------------------------------------------------------- slashing

    /// @notice Wire in the Rollup that signed proofs are about and the single-proof verifier of its
    /// block circuit (made from the same key as the Rollup's batch verifier). Once, by the deployer:
    /// a deployment step, not a lever, since whoever could change the verifier could slash anyone.
    function setRollup(Rollup rollup_, IBlockVerifier verifier_) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (address(rollup) != address(0)) revert RollupAlreadySet(address(rollup));
        if (address(rollup_).code.length == 0) revert InvalidParams("rollup has no code");
        if (address(verifier_).code.length == 0) revert InvalidParams("verifier has no code");
        rollup = rollup_;
        blockVerifier = verifier_;
        emit SlashingEnabled(address(rollup_), address(verifier_));
    }

    /// @notice Slash `roller` for a proof of L2 block `l2Block` it signed that does not verify, and
    /// pay the sender REPORTER_BPS of the slashed amount; the rest is burned and the roller's
    /// reputation drops to 0. Returns the slashed amount, the sender's share and the burned rest.
    /// @dev The public inputs are checked against what the Rollup stored for the block (with the
    /// roller as prover), so a proof signed for a block that was since reverted and replaced proves
    /// nothing and is refused (`WrongPublicInputs`) rather than slashed. One offense slashes once:
    /// see `offenseKey`.
    function slashInvalidProof(
        address roller,
        uint256 l2Block,
        uint256 round,
        Groth16Proof calldata proof,
        uint256[4] calldata publicInputs,
        bytes calldata signature
    ) external nonReentrant returns (uint256 amount, uint256 reporterShare, uint256 burned) {
        bytes32 offense = _checkEvidence(roller, l2Block, round, proof, publicInputs, signature);
        if (gasleft() < VERIFY_CALL_GAS) revert NotEnoughGas(gasleft(), VERIFY_CALL_GAS);
        if (blockVerifier.verifyProof{gas: VERIFIER_GAS}(proof.a, proof.b, proof.c, publicInputs)) {
            revert ProofIsValid();
        }
        slashed[offense] = true;
        (amount, reporterShare, burned) = _slash(roller);
        uint256 oldRep = _rollers[roller].rep;
        _rollers[roller].rep = 0;
        emit ReputationChanged(roller, TaskKind.Block, l2Block, round, Outcome.Invalid, oldRep, 0);
        emit Slashed(roller, msg.sender, TaskKind.Block, l2Block, round, offense, amount, reporterShare, burned);
        if (reporterShare > 0) token.safeTransfer(msg.sender, reporterShare);
        if (burned > 0) ERC20Burnable(address(token)).burn(burned);
    }

    /// Everything about the evidence but the proof check, cheapest first; returns its offense key.
    function _checkEvidence(
        address roller,
        uint256 l2Block,
        uint256 round,
        Groth16Proof calldata proof,
        uint256[4] calldata publicInputs,
        bytes calldata signature
    ) private view returns (bytes32 offense) {
        if (address(rollup) == address(0)) revert SlashingNotEnabled();
        bytes32 digest = submissionDigest(TaskKind.Block, l2Block, round, proofHash(proof, publicInputs));
        (address signer, ECDSA.RecoverError error_,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (error_ != ECDSA.RecoverError.NoError || signer != roller) revert BadSignature(roller, signer);
        if (!_rollers[roller].registered) revert UnknownRoller(roller);
        // Reverts with the Rollup's BlockNotCommitted for a block it does not hold.
        uint256[4] memory stored = rollup.publicInputs(l2Block, roller);
        if (keccak256(abi.encode(stored)) != keccak256(abi.encode(publicInputs))) revert WrongPublicInputs(l2Block);
        offense = offenseKey(roller, TaskKind.Block, l2Block, publicInputs);
        if (slashed[offense]) revert AlreadySlashed(offense);
    }

    /// @notice The EIP-712 digest a roller signs for a proof submission on this chain's rollup.
    function submissionDigest(TaskKind kind, uint256 index, uint256 round, bytes32 proofHash_)
        public
        view
        returns (bytes32)
    {
        bytes32 domainSeparator = keccak256(
            abi.encode(EIP712_DOMAIN_TYPEHASH, DOMAIN_NAME_HASH, DOMAIN_VERSION_HASH, block.chainid, address(rollup))
        );
        bytes32 structHash = keccak256(abi.encode(PROOF_SUBMISSION_TYPEHASH, uint8(kind), index, round, proofHash_));
        return MessageHashUtils.toTypedDataHash(domainSeparator, structHash);
    }

    /// @notice keccak256(abi.encode(a, b, c, publicInputs)): the proof and the statement it proves.
    function proofHash(Groth16Proof calldata proof, uint256[4] calldata publicInputs) public pure returns (bytes32) {
        return keccak256(abi.encode(proof.a, proof.b, proof.c, publicInputs));
    }

    /// @notice What "the same evidence slashes once" counts: a roller, a task and the statement it
    /// was to prove. The round and the proof are left out, so re-signing the same or another
    /// invalid proof for that statement (in another round, or as a retry) is the same offense; a
    /// block reverted and committed anew is a new statement.
    function offenseKey(address roller, TaskKind kind, uint256 index, uint256[4] calldata publicInputs)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(roller, kind, index, keccak256(abi.encode(publicInputs))));
    }

    /// SLASH_BPS of active plus unbonding stake: from the active stake first, then from the
    /// unbonding entries newest first. Newest first because stake that started unbonding last is
    /// the likeliest to have fled the offense; entries that have been unbonding longest, released
    /// ones included, are touched last.
    function _slash(address roller) private returns (uint256 amount, uint256 reporterShare, uint256 burned) {
        Roller storage r = _rollers[roller];
        amount = Math.mulDiv(r.active + r.unbonding, _params.slashBps, BPS);
        reporterShare = Math.mulDiv(amount, _params.reporterBps, BPS);
        burned = amount - reporterShare;
        uint256 fromActive = amount < r.active ? amount : r.active;
        r.active -= fromActive;
        totalActive -= fromActive;
        uint256 rest = amount - fromActive;
        if (rest == 0) return (amount, reporterShare, burned);
        r.unbonding -= rest;
        totalUnbonding -= rest;
        // The queue's pending entries (head onwards) add up to r.unbonding, which covered `rest`.
        Unbonding[] storage queue = _unbondingQueue[roller];
        while (rest > 0) {
            Unbonding storage newest = queue[queue.length - 1];
            if (newest.amount > rest) {
                newest.amount -= rest;
                rest = 0;
            } else {
                rest -= newest.amount;
                queue.pop();
            }
        }
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
