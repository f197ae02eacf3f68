// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {CoordinatorRegistry} from "./CoordinatorRegistry.sol";
import {Rollup} from "./Rollup.sol";
import {Randomness} from "./Randomness.sol";

/// The single-proof verifier of a rollup's block circuit (`zkp.solidity.render_verifier` generates
/// one from a Groth16 key): the proof as its proof system encodes it (`zkp.system`), and the
/// circuit's public inputs, however many. It answers false for any invalid proof, bytes that are
/// no proof and another number of inputs, and never reverts.
interface IBlockVerifier {
    function verify(bytes calldata proof, uint256[] calldata inputs) external view returns (bool);
}

/// @title RollerStaking: stake, reputation, weight, rewards, settlement and slashing of the prover
/// market, for every Rollup its deployer adds.
/// @notice Implements the on-chain half of market-spec.md (v2). Anyone freezes the roster into a
/// roster snapshot (a Merkle root of every weighted roller's draw interval). Coordinators report
/// outcomes (who held how many slots of which task and round, and how it went); this contract
/// checks what it can (the batch is finalized on the coordinator's own Rollup, every record
/// belongs to it, a drawn roller held exactly its slots in the task's snapshot under the recorded
/// randomness, an open block's rescuer is the prover L1 recorded, nothing is invalid without
/// evidence) and owns the arithmetic: reputation, capped rewards from the Rollup's own pool, and the lottery drawn after
/// settlement. `market_contracts/rules.py` and `market_contracts/ledger.py` mirror it exactly.
/// Anyone can slash a roller with a proof or aggregate it signed that does not verify against
/// the statement L1 holds.
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

    /// Every market parameter of the spec, fixed at deployment, in the order of
    /// `rules.MarketParams`. Parameters the contract does not use itself (t, k, tAgg, ...) live
    /// here too so that coordinators, rollers and auditors read one authoritative copy.
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
        uint256 rOpen;
        uint256 slashWindow;
        uint256 snapshotMaxAge;
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

    /// One (roller, task, round) as the coordinator saw it: `task` is the L2 block for a Block
    /// task and the batch index for an Aggregation task; `slots` how many of the round's slots
    /// the roller held (its outcome counts that many times in rewards, once in reputation).
    struct OutcomeReport {
        address roller;
        TaskKind kind;
        uint256 task;
        uint256 round;
        uint256 slots;
        Outcome outcome;
    }

    /// That a record's roller held its slots: its entry (index, start, weight) in roster snapshot
    /// `snapshot` and the Merkle path from the entry's leaf to the snapshot's root. Ignored for
    /// the open round.
    struct DrawProof {
        uint256 snapshot;
        uint256 index;
        uint256 start;
        uint256 weight;
        bytes32[] path;
    }

    /// A roster snapshot as `snapshotInfo` returns it: taken in L1 block `l1Block` at `timestamp`,
    /// `count` entries whose weights add up to `total`, committed to by `root` (zero if empty).
    struct Snapshot {
        uint256 l1Block;
        uint256 timestamp;
        uint256 total;
        bytes32 root;
        uint256 count;
    }

    /// A snapshot as stored: three slots instead of five.
    struct StoredSnapshot {
        uint64 l1Block;
        uint64 timestamp;
        uint64 count;
        uint256 total;
        bytes32 root;
    }

    /// An on-time block record in lottery mode: `slots` tickets for `roller` in block `block`.
    struct LotteryEntry {
        uint256 block;
        address roller;
        uint256 slots;
    }

    struct PendingLottery {
        bytes32 entriesHash;
        uint256 targetBlock;
    }

    /// A Rollup this contract serves: the single-proof verifier of its block circuit, its batch
    /// size (immutable in the Rollup, read once) and whether it was added.
    struct RollupConfig {
        IBlockVerifier blockVerifier;
        uint64 batchSize;
        bool enabled;
    }

    /// An aggregate of a batch's K block proofs, proof i by (bound to) provers[i], as the Rollup's
    /// batch verifier takes it (`zkp.aggregate`).
    struct AggregateProof {
        address[] provers;
        uint256[2][] a;
        uint256[2][2][] b;
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

    /// A signed proof submission, as evidence: what the roller signed, and for which rollup.
    struct Submission {
        address roller;
        address rollup;
        TaskKind kind;
        uint256 index;
        uint256 round;
        bytes32 statement;
        bytes32 proofHash;
    }

    /// What settle carries from one record to the next.
    struct Settlement {
        address rollup;
        uint256 batch;
        uint256 firstBlock;
        uint256 lastBlock;
        /// The block whose reward `blockAllotted` counts; records of a block are contiguous.
        uint256 block;
        uint256 blockAllotted;
        uint256 aggAllotted;
        LotteryEntry[] entries;
        uint256 entryCount;
        /// What was read from the Rollup for the task of the previous record (records of a task
        /// are contiguous): its roster snapshot and randomness.
        TaskKind drawKind;
        uint256 drawTask;
        bool drawCached;
        bool rosterFound;
        uint256 rosterId;
        bytes32 randomness;
    }

    uint256 public constant BPS = 10_000;
    bytes32 public constant DOMAIN_TICKET = keccak256("provernet.ticket.v2");
    bytes32 public constant DOMAIN_ASSIGN = keccak256("provernet.assign.v2");
    bytes32 public constant DOMAIN_AGG = keccak256("provernet.aggregate.v2");
    bytes32 public constant DOMAIN_SLOT = keccak256("provernet.slot.v2");
    /// UNBONDING must be at least this many times the exposure (market-spec.md, "Stake cannot
    /// outrun its slash"): the margin absorbs L1 congestion.
    uint256 public constant UNBONDING_MARGIN = 2;
    /// An aggregation's window closes this many aggregation deadlines after assignment.
    uint256 public constant AGG_CLOSE_IN_DEADLINES = 2;
    /// Pending unbonding entries per roller, so that a slash walks a bounded queue.
    uint256 public constant MAX_UNBONDING_ENTRIES = 16;

    /// EIP-712 domain of signed proof submissions: name "provernet", version "2", the chain id and
    /// the Rollup as verifying contract, so a signature cannot be replayed on another chain or
    /// rollup (market-spec.md, "Signed submissions").
    bytes32 public constant EIP712_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)");
    bytes32 private constant DOMAIN_NAME_HASH = keccak256("provernet");
    bytes32 private constant DOMAIN_VERSION_HASH = keccak256("2");
    /// What a roller signs for every proof it submits: `kind` a TaskKind, `index` the L2 block (or
    /// batch), `statement` the Rollup's statement of it, `proofHash` the hash of the proof alone:
    /// the public inputs are not signed, they come from L1 with the signer as prover.
    bytes32 public constant PROOF_SUBMISSION_TYPEHASH =
        keccak256("ProofSubmission(uint8 kind,uint256 index,uint256 round,bytes32 statement,bytes32 proofHash)");
    /// Gas the block verifier gets for one check: about 4.6 times what it uses (~215k, four
    /// pairings and four ecMul). It is a fixed amount, checked to be available, because a verifier
    /// short of gas answers false like for an invalid proof: with less, anyone could slash a valid
    /// proof by sending too little gas.
    uint256 public constant VERIFIER_GAS = 1_000_000;
    /// Gas the Rollup's aggregate check (`Rollup.aggregateVerifies`) gets for an aggregate of K
    /// proofs: AGG_VERIFIER_GAS_BASE + K * AGG_VERIFIER_GAS_PER_PROOF. Its batch verifier uses about
    /// 145k + 47k K (one pairing of K + 3 pairs, an ecMul per proof and per input,
    /// docs/measurements.md) and reading the blocks' roots about 4.2k K more (two cold loads a
    /// block), so this is about twice that at K = 64 and four times at K = 1. Fixed for a given K
    /// for the same reason as VERIFIER_GAS.
    uint256 public constant AGG_VERIFIER_GAS_BASE = 700_000;
    uint256 public constant AGG_VERIFIER_GAS_PER_PROOF = 100_000;
    /// What a call to a verifier must find left beyond its allowance: the CALL forwards at most
    /// 63/64 of the gas left, and pays for the account access and the arguments' memory first
    /// (CALL_OVERHEAD_PER_PROOF for each proof of an aggregate: its proof words and inputs).
    uint256 private constant CALL_OVERHEAD = 10_000;
    uint256 private constant CALL_OVERHEAD_PER_PROOF = 2_000;

    IERC20 public immutable token;
    CoordinatorRegistry public immutable registry;
    /// Largest active stake whose weight (stake * rep) cannot overflow.
    uint256 public immutable maxStake;
    /// The only account that may add Rollups (`addRollup`).
    address public immutable deployer;
    Params private _params;

    mapping(address => RollupConfig) private _rollups;
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
    /// Each Rollup's reward pool: its coordinators pay from it and from no other.
    mapping(address => uint256) public rewardPool;
    uint256 public totalRewardPool;
    uint256 public totalClaimable;
    mapping(address => uint256) public claimable;

    /// Once per (rollup, batch), whichever of the rollup's coordinators settles it.
    mapping(address => mapping(uint256 => bool)) public batchSettled;
    mapping(address => mapping(uint256 => PendingLottery)) public pendingLottery;
    /// Roster snapshots in the order taken, hence by L1 block (at most one per block); the id of
    /// a snapshot is its position.
    StoredSnapshot[] private _snapshots;

    event RollerRegistered(address indexed roller, uint256 rep);
    event Staked(address indexed roller, uint256 amount, uint256 active);
    event UnstakeRequested(address indexed roller, uint256 amount, uint256 releaseTime);
    event Withdrawn(address indexed roller, uint256 amount);
    event RollerPaused(address indexed roller);
    event RollerResumed(address indexed roller);
    event RollupAdded(address indexed rollup, address indexed blockVerifier, uint256 batchSize);
    event RewardsFunded(address indexed funder, address indexed rollup, uint256 amount);
    event Claimed(address indexed roller, uint256 amount);
    event ReputationChanged(
        address indexed roller,
        address indexed rollup,
        TaskKind kind,
        uint256 indexed task,
        uint256 round,
        uint256 slots,
        Outcome outcome,
        uint256 oldRep,
        uint256 newRep
    );
    event RewardCredited(
        address indexed roller, address indexed rollup, TaskKind kind, uint256 indexed task, uint256 amount
    );
    event BatchSettled(address indexed rollup, uint256 indexed batch, address indexed coordinator, uint256 records);
    event LotteryDrawn(address indexed rollup, uint256 indexed batch, bytes32 randomness);
    /// Every entry of snapshot `id`, in order: entry i is (i, rollers[i], the sum of weights[0..i),
    /// weights[i]), so anyone can rebuild the tree and the draw.
    event RosterSnapshot(
        uint256 indexed id,
        uint256 l1Block,
        uint256 timestamp,
        uint256 total,
        bytes32 root,
        address[] rollers,
        uint256[] weights
    );
    event Slashed(
        address indexed roller,
        address indexed reporter,
        address indexed rollup,
        TaskKind kind,
        uint256 index,
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
    error TooManyUnbondings(uint256 most);
    error NotYetReleased(uint256 releaseTime);
    error NothingToWithdraw();
    error NothingToClaim();
    error UnknownRoller(address roller);
    error AlreadyPaused();
    error NotPaused();
    error NotDeployer(address caller);
    error RollupAlreadyAdded(address rollup);
    error RollupNotEnabled(address rollup);
    error NotCoordinator(address caller);
    error BatchNotFinalized(uint256 batch, uint256 lastBlock, uint256 lastFinalized);
    error BatchAlreadySettled(uint256 batch);
    error EmptySettlement();
    error OutcomesNotSorted(uint256 index);
    error TaskNotInBatch(TaskKind kind, uint256 task, uint256 batch);
    error RoundTooLarge(uint256 round, uint256 last);
    error TooManySlots(uint256 slots, uint256 most);
    error InvalidNeedsEvidence(address roller);
    error SnapshotAlreadyTaken(uint256 l1Block);
    error DrawProofsMismatch(uint256 records, uint256 draws);
    /// `snapshot` is not the roster of the task (a task whose roster is empty has none).
    error WrongSnapshot(TaskKind kind, uint256 task, uint256 snapshot);
    /// The entry (index, roller, start, weight) with this path is not in snapshot `snapshot`.
    error NotInSnapshot(address roller, uint256 snapshot, uint256 index);
    error RandomnessNotRecorded(uint256 l2Block);
    /// The roller holds `held` of the round's slots in its entry's interval, not `slots`.
    error NotDrawn(address roller, TaskKind kind, uint256 task, uint256 round, uint256 slots, uint256 held);
    /// The open round of block `l2Block` was proven, on L1, by `prover`, not by `roller`.
    error NotTheProver(address roller, uint256 l2Block, address prover);
    error NoPendingLottery(address rollup, uint256 batch);
    error WrongLotteryEntries(address rollup, uint256 batch);
    /// The signature does not recover to `roller` over this submission, chain id and rollup;
    /// `signer` is whom it recovers to (zero if it recovers to no one).
    error BadSignature(address roller, address signer);
    /// The signed statement is not the one L1 holds now for block (or batch) `index`.
    error StaleStatement(uint256 index);
    error WrongAggregateSize(uint256 provers, uint256 aProofs, uint256 bProofs, uint256 batchSize);
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
        if (p.rOpen == 0) revert InvalidParams("rOpen must be positive");
        if (p.unbonding < UNBONDING_MARGIN * exposure(p)) {
            revert InvalidParams("unbonding must be >= 2 x exposure: stake could leave before its slash");
        }
    }

    /// Seconds from a roster snapshot to the last moment evidence for a drawn task can land: the
    /// snapshot's age, the block's drawn rounds, its batch's aggregation rounds, the slash window.
    function exposure(Params memory p) public pure returns (uint256) {
        uint256 rounds = p.rOpen + 1;
        return p.snapshotMaxAge + rounds * p.lateWindow + rounds * AGG_CLOSE_IN_DEADLINES * p.tAgg + p.slashWindow;
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
        Unbonding[] storage queue = _unbondingQueue[msg.sender];
        if (queue.length - _unbondingHead[msg.sender] >= MAX_UNBONDING_ENTRIES) {
            revert TooManyUnbondings(MAX_UNBONDING_ENTRIES);
        }
        r.active -= amount;
        r.unbonding += amount;
        totalActive -= amount;
        totalUnbonding += amount;
        uint256 releaseTime = block.timestamp + _params.unbonding;
        queue.push(Unbonding(amount, releaseTime));
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

    // ---------------------------------------------------------------- rollups

    /// @notice Serve `rollup`: its coordinators may settle its batches, its pool may be funded,
    /// and proofs of its blocks are slashable with `blockVerifier`, the single-proof verifier of
    /// its block circuit (made from the same key as the Rollup's batch verifier). By the deployer
    /// only, once per rollup: whoever could change a verifier could slash anyone.
    function addRollup(Rollup rollup, IBlockVerifier blockVerifier) external {
        if (msg.sender != deployer) revert NotDeployer(msg.sender);
        if (_rollups[address(rollup)].enabled) revert RollupAlreadyAdded(address(rollup));
        if (address(rollup).code.length == 0) revert InvalidParams("rollup has no code");
        if (address(blockVerifier).code.length == 0) revert InvalidParams("verifier has no code");
        uint256 batchSize = rollup.batchSize();
        _rollups[address(rollup)] = RollupConfig(blockVerifier, uint64(batchSize), true);
        emit RollupAdded(address(rollup), address(blockVerifier), batchSize);
    }

    function rollupEnabled(address rollup) external view returns (bool) {
        return _rollups[rollup].enabled;
    }

    function blockVerifierOf(address rollup) external view returns (IBlockVerifier) {
        return _rollups[rollup].blockVerifier;
    }

    function _requireEnabled(address rollup) private view returns (RollupConfig storage config) {
        config = _rollups[rollup];
        if (!config.enabled) revert RollupNotEnabled(rollup);
    }

    // ---------------------------------------------------------------- rewards

    /// Anyone may fund a Rollup's pool; only that rollup's settlements pay from it.
    function fundRewards(address rollup, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _requireEnabled(rollup);
        rewardPool[rollup] += amount;
        totalRewardPool += amount;
        token.safeTransferFrom(msg.sender, address(this), amount);
        emit RewardsFunded(msg.sender, rollup, amount);
    }

    function claim() external nonReentrant returns (uint256 amount) {
        amount = claimable[msg.sender];
        if (amount == 0) revert NothingToClaim();
        claimable[msg.sender] = 0;
        totalClaimable -= amount;
        token.safeTransfer(msg.sender, amount);
        emit Claimed(msg.sender, amount);
    }

    /// Pays min(amount, pool) from `rollup`'s pool.
    function _credit(address rollup, address roller, TaskKind kind, uint256 task, uint256 amount) private {
        uint256 pool = rewardPool[rollup];
        uint256 paid = amount < pool ? amount : pool;
        if (paid == 0) return;
        rewardPool[rollup] = pool - paid;
        totalRewardPool -= paid;
        claimable[roller] += paid;
        totalClaimable += paid;
        emit RewardCredited(roller, rollup, kind, task, paid);
    }

    // ---------------------------------------------------------------- roster snapshots

    /// @notice Freeze the roster: every registered roller with weight > 0, in registration order,
    /// each entry holding the draw interval [start, start + weight). Stores the Merkle root of the
    /// entries (market-spec.md, "Roster snapshots") and emits them. Anyone may call it, once per
    /// L1 block; its gas grows with the registered rollers.
    function snapshotRoster() external returns (uint256 id) {
        id = _snapshots.length;
        if (id > 0 && _snapshots[id - 1].l1Block == block.number) revert SnapshotAlreadyTaken(block.number);
        uint256 registered = _roster.length;
        address[] memory rollers = new address[](registered);
        uint256[] memory weights = new uint256[](registered);
        bytes32[] memory nodes = new bytes32[](registered);
        uint256 count = 0;
        uint256 total = 0;
        for (uint256 i = 0; i < registered; ++i) {
            address roller = _roster[i];
            uint256 w = weightOf(roller);
            if (w == 0) continue;
            rollers[count] = roller;
            weights[count] = w;
            nodes[count] = snapshotLeaf(count, roller, total, w);
            total += w;
            ++count;
        }
        assembly ("memory-safe") {
            mstore(rollers, count)
            mstore(weights, count)
        }
        bytes32 root = _merkleRoot(nodes, count);
        _snapshots.push(
            StoredSnapshot(uint64(block.number), uint64(block.timestamp), uint64(count), total, root)
        );
        emit RosterSnapshot(id, block.number, block.timestamp, total, root, rollers, weights);
    }

    /// OpenZeppelin's standard leaf: the hash of the hash of the abi-encoded entry, so that no
    /// leaf passes for an inner node.
    function snapshotLeaf(uint256 index, address roller, uint256 start, uint256 weight_)
        public
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(index, roller, start, weight_))));
    }

    /// The root over the first `count` of `nodes` (overwritten level by level): nodes 2k and
    /// 2k+1 pair up with `Hashes.commutativeKeccak256`, an odd last node goes up unchanged; zero
    /// for none. `MerkleProof.verify` checks the paths.
    function _merkleRoot(bytes32[] memory nodes, uint256 count) private pure returns (bytes32) {
        if (count == 0) return bytes32(0);
        while (count > 1) {
            uint256 next = 0;
            for (uint256 i = 0; i < count; i += 2) {
                nodes[next++] = i + 1 < count ? Hashes.commutativeKeccak256(nodes[i], nodes[i + 1]) : nodes[i];
            }
            count = next;
        }
        return nodes[0];
    }

    function snapshotCount() external view returns (uint256) {
        return _snapshots.length;
    }

    function snapshotInfo(uint256 id) external view returns (Snapshot memory) {
        StoredSnapshot storage s = _snapshots[id];
        return Snapshot(s.l1Block, s.timestamp, s.total, s.root, s.count);
    }

    /// @notice The roster snapshot of block `n` of `rollup`: the last taken at or before the
    /// block's roster block, if no older than SNAPSHOT_MAX_AGE at its first commit. Not found: the
    /// block was never committed, or its roster is empty.
    function rosterSnapshotOf(address rollup, uint256 n) public view returns (bool found, uint256 id) {
        (uint256 rosterBlock, uint256 randomnessBlock, uint256 drawTime) = Rollup(rollup).drawBlocks(n);
        if (randomnessBlock == 0) return (false, 0);
        // Binary search for the first snapshot taken after the roster block.
        uint256 low = 0;
        uint256 high = _snapshots.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (_snapshots[mid].l1Block <= rosterBlock) low = mid + 1;
            else high = mid;
        }
        if (low == 0) return (false, 0);
        id = low - 1;
        found = _snapshots[id].timestamp + _params.snapshotMaxAge >= drawTime;
    }

    // ---------------------------------------------------------------- settlement

    /// @notice Apply batch `batch`'s records of the caller's Rollup: reputation per record, and
    /// rewards capped at R_BLOCK per block and R_AGG per batch (lottery mode: the block rewards
    /// wait for `drawLottery`). Records must be strictly ascending by (kind, task, round, roller),
    /// which makes every (roller, task, round) appear once and keeps a task's records together.
    /// `draws[i]` proves that records[i]'s roller held its slots (ignored in the open round).
    function settle(uint256 batch, OutcomeReport[] calldata records, DrawProof[] calldata draws)
        external
        nonReentrant
    {
        (address rollup, uint256 batchSize) = _coordinatorRollup(msg.sender);
        Settlement memory s = _openSettlement(rollup, batch, batchSize, records.length);
        if (draws.length != records.length) revert DrawProofsMismatch(records.length, draws.length);
        for (uint256 i = 0; i < records.length; ++i) {
            OutcomeReport calldata o = records[i];
            if (i > 0 && !_recordAfter(records[i - 1], o)) revert OutcomesNotSorted(i);
            _checkRecord(s, o);
            if (o.round < _params.rOpen) _checkDrawn(s, o, draws[i]);
            else _checkProver(rollup, o);
            _applyReputation(rollup, o);
            if (o.outcome == Outcome.OnTime) _reward(s, o);
        }
        if (s.entryCount > 0) _storeLottery(s);
        emit BatchSettled(rollup, batch, msg.sender, records.length);
    }

    /// The caller's Rollup, which must be enabled, and its batch size.
    function _coordinatorRollup(address caller) private view returns (address rollup, uint256 batchSize) {
        rollup = registry.rollupOf(caller);
        if (rollup == address(0)) revert NotCoordinator(caller);
        batchSize = _requireEnabled(rollup).batchSize;
    }

    /// Refuses a batch that is not finalized, settled already or empty; marks it settled.
    function _openSettlement(address rollup, uint256 batch, uint256 batchSize, uint256 records)
        private
        returns (Settlement memory s)
    {
        uint256 firstBlock = batch * batchSize + 1;
        uint256 lastBlock = firstBlock + batchSize - 1;
        uint256 lastFinalized = Rollup(rollup).lastFinalized();
        if (lastFinalized < lastBlock) revert BatchNotFinalized(batch, lastBlock, lastFinalized);
        if (batchSettled[rollup][batch]) revert BatchAlreadySettled(batch);
        if (records == 0) revert EmptySettlement();
        batchSettled[rollup][batch] = true;
        s.rollup = rollup;
        s.batch = batch;
        s.firstBlock = firstBlock;
        s.lastBlock = lastBlock;
        if (_params.rewardMode == RewardMode.Lottery) s.entries = new LotteryEntry[](records);
    }

    function _recordAfter(OutcomeReport calldata prev, OutcomeReport calldata o) private pure returns (bool) {
        if (o.kind != prev.kind) return o.kind > prev.kind;
        if (o.task != prev.task) return o.task > prev.task;
        if (o.round != prev.round) return o.round > prev.round;
        return o.roller > prev.roller;
    }

    /// Everything the contract can know about one record: it is of this batch, its round and
    /// slots are possible, it is not `invalid` (only evidence sets that) and its roller exists.
    function _checkRecord(Settlement memory s, OutcomeReport calldata o) private view {
        bool inBatch = o.kind == TaskKind.Block ? (s.firstBlock <= o.task && o.task <= s.lastBlock) : o.task == s.batch;
        if (!inBatch) revert TaskNotInBatch(o.kind, o.task, s.batch);
        uint256 last = maxSettledRound(o.kind);
        if (o.round > last) revert RoundTooLarge(o.round, last);
        uint256 most = maxSlots(o.kind, o.round);
        if (o.slots == 0 || o.slots > most) revert TooManySlots(o.slots, most);
        if (o.outcome == Outcome.Invalid) revert InvalidNeedsEvidence(o.roller);
        if (!_rollers[o.roller].registered) revert UnknownRoller(o.roller);
    }

    /// A drawn record's roller held exactly `o.slots` of the round's slots: `draw` is its entry in
    /// the task's roster snapshot, and that many of the round's slot draws fall in its interval.
    function _checkDrawn(Settlement memory s, OutcomeReport calldata o, DrawProof calldata draw) private view {
        _loadTaskDraw(s, o.kind, o.task);
        if (!s.rosterFound || draw.snapshot != s.rosterId) revert WrongSnapshot(o.kind, o.task, draw.snapshot);
        StoredSnapshot storage snapshot = _snapshots[s.rosterId];
        bytes32 leaf = snapshotLeaf(draw.index, o.roller, draw.start, draw.weight);
        if (!MerkleProof.verifyCalldata(draw.path, snapshot.root, leaf)) {
            revert NotInSnapshot(o.roller, draw.snapshot, draw.index);
        }
        uint256 randomnessBlock = o.kind == TaskKind.Block ? o.task : s.lastBlock;
        if (s.randomness == bytes32(0)) revert RandomnessNotRecorded(randomnessBlock);
        bytes32 seed = keccak256(
            abi.encode(
                o.kind == TaskKind.Block ? DOMAIN_ASSIGN : DOMAIN_AGG, block.chainid, s.rollup, o.task, o.round, s.randomness
            )
        );
        uint256 held = slotsHeld(seed, draw.start, draw.weight, snapshot.total, maxSlots(o.kind, o.round));
        if (held != o.slots) revert NotDrawn(o.roller, o.kind, o.task, o.round, o.slots, held);
    }

    /// Reads the roster snapshot and randomness of a task from the Rollup once per task: a batch's
    /// aggregation draws from its last block's.
    function _loadTaskDraw(Settlement memory s, TaskKind kind, uint256 task) private view {
        if (s.drawCached && s.drawKind == kind && s.drawTask == task) return;
        uint256 l2Block = kind == TaskKind.Block ? task : s.lastBlock;
        (s.rosterFound, s.rosterId) = rosterSnapshotOf(s.rollup, l2Block);
        s.randomness = Rollup(s.rollup).randomness(l2Block);
        s.drawKind = kind;
        s.drawTask = task;
        s.drawCached = true;
    }

    /// How many of a round's `m` slots fall in [start, start + weight) of a roster whose weights
    /// add up to `total`: slot j's draw is keccak256(abi.encode(DOMAIN_SLOT, seed, j)) mod total.
    function slotsHeld(bytes32 seed, uint256 start, uint256 weight_, uint256 total, uint256 m)
        public
        pure
        returns (uint256 held)
    {
        if (total == 0) return 0;
        for (uint256 j = 0; j < m; ++j) {
            uint256 r = uint256(keccak256(abi.encode(DOMAIN_SLOT, seed, j))) % total;
            if (start <= r && r - start < weight_) ++held;
        }
    }

    /// The open round of a block pays its rescuer: the prover `finalizeBatch` named for it.
    function _checkProver(address rollup, OutcomeReport calldata o) private view {
        address prover = Rollup(rollup).blockInfo(o.task).prover;
        if (prover != o.roller) revert NotTheProver(o.roller, o.task, prover);
    }

    /// The last round a record may name: a block's open round pays its rescuer, whom L1 names;
    /// an aggregation's is not settled, since L1 names no aggregator and aggregating is cheap
    /// enough for the coordinator to do itself (market-spec.md, "Settlement").
    function maxSettledRound(TaskKind kind) public view returns (uint256) {
        return kind == TaskKind.Block ? _params.rOpen : _params.rOpen - 1;
    }

    /// A drawn block round has M slots; an aggregation round and the open round have one.
    function maxSlots(TaskKind kind, uint256 round) public view returns (uint256) {
        if (kind == TaskKind.Aggregation || round == _params.rOpen) return 1;
        return _params.m;
    }

    function _applyReputation(address rollup, OutcomeReport calldata o) private {
        Roller storage r = _rollers[o.roller];
        uint256 oldRep = r.rep;
        uint256 newRep = nextReputation(oldRep, o.outcome);
        r.rep = newRep;
        emit ReputationChanged(o.roller, rollup, o.kind, o.task, o.round, o.slots, o.outcome, oldRep, newRep);
    }

    /// The spec's reputation rule, exactly (integer arithmetic, floor division): a late or missed
    /// outcome never raises a reputation and never takes it below REP_MIN.
    function nextReputation(uint256 rep, Outcome outcome) public view returns (uint256) {
        if (outcome == Outcome.OnTime) return rep + (_params.repMax - rep) * _params.alphaBps / BPS;
        if (outcome == Outcome.Invalid) return 0;
        if (rep <= _params.repMin) return rep;
        uint256 penaltyBps = outcome == Outcome.Late ? _params.betaBps : _params.gammaBps;
        uint256 lowered = rep - rep * penaltyBps / BPS;
        return lowered > _params.repMin ? lowered : _params.repMin;
    }

    /// An on-time record's reward, whatever the report says never above R_BLOCK per block and
    /// R_AGG per batch.
    function _reward(Settlement memory s, OutcomeReport calldata o) private {
        if (o.kind == TaskKind.Aggregation) {
            uint256 agg = _capped(_params.rAgg, _params.rAgg, s.aggAllotted);
            s.aggAllotted += agg;
            _credit(s.rollup, o.roller, o.kind, o.task, agg);
        } else if (_params.rewardMode == RewardMode.Lottery) {
            s.entries[s.entryCount++] = LotteryEntry(o.task, o.roller, o.slots);
        } else {
            if (o.task != s.block) {
                s.block = o.task;
                s.blockAllotted = 0;
            }
            uint256 share = _capped(splitReward(o.round, o.slots), _params.rBlock, s.blockAllotted);
            s.blockAllotted += share;
            _credit(s.rollup, o.roller, o.kind, o.task, share);
        }
    }

    function _capped(uint256 amount, uint256 cap, uint256 allotted) private pure returns (uint256) {
        uint256 left = cap - allotted;
        return amount < left ? amount : left;
    }

    /// Split mode, before the cap: `slots` shares of R_BLOCK / M, or all of R_BLOCK for the
    /// open round's rescue.
    function splitReward(uint256 round, uint256 slots) public view returns (uint256) {
        if (round == _params.rOpen) return _params.rBlock;
        return slots * (_params.rBlock / _params.m);
    }

    /// Lottery mode: the on-time entries are fixed now; their tickets depend on the hash of the
    /// next L1 block, which nobody knows yet, so no one could have declined the tasks it would
    /// lose.
    function _storeLottery(Settlement memory s) private {
        LotteryEntry[] memory entries = s.entries;
        uint256 count = s.entryCount;
        assembly ("memory-safe") {
            mstore(entries, count)
        }
        pendingLottery[s.rollup][s.batch] =
            PendingLottery(keccak256(abi.encode(entries)), block.number + Randomness.RANDOMNESS_DELAY);
    }

    /// @notice Pay batch `batch`'s block rewards in lottery mode: `entries` are the on-time block
    /// records `settle` stored (in settlement order); each block's R_BLOCK goes to its smallest
    /// ticket under randomness drawn from the L1 block after the settlement. Anyone may call it,
    /// once, after that block.
    function drawLottery(address rollup, uint256 batch, LotteryEntry[] calldata entries) external nonReentrant {
        PendingLottery memory pending = pendingLottery[rollup][batch];
        if (pending.targetBlock == 0) revert NoPendingLottery(rollup, batch);
        if (keccak256(abi.encode(entries)) != pending.entriesHash) revert WrongLotteryEntries(rollup, batch);
        bytes32 randomness = Randomness.draw(pending.targetBlock);
        delete pendingLottery[rollup][batch];
        uint256 start = 0;
        while (start < entries.length) {
            start = _payBlockWinner(rollup, randomness, entries, start);
        }
        emit LotteryDrawn(rollup, batch, randomness);
    }

    /// Pays R_BLOCK to the smallest ticket among the entries of the block that starts at `start`
    /// (ties: the first); returns where the next block's entries start.
    function _payBlockWinner(address rollup, bytes32 randomness, LotteryEntry[] calldata entries, uint256 start)
        private
        returns (uint256 end)
    {
        uint256 l2Block = entries[start].block;
        address winner;
        uint256 best = type(uint256).max;
        for (end = start; end < entries.length && entries[end].block == l2Block; ++end) {
            for (uint256 j = 0; j < entries[end].slots; ++j) {
                uint256 t = ticket(randomness, l2Block, entries[end].roller, j);
                if (winner == address(0) || t < best) {
                    best = t;
                    winner = entries[end].roller;
                }
            }
        }
        _credit(rollup, winner, TaskKind.Block, l2Block, _params.rBlock);
    }

    function ticket(bytes32 randomness, uint256 l2Block, address roller, uint256 j) public pure returns (uint256) {
        return uint256(keccak256(abi.encode(DOMAIN_TICKET, randomness, l2Block, roller, j)));
    }

    // ---------------------------------------------------------------- slashing

    /// @notice Slash `roller` for a proof of block `l2Block` of `rollup` that it signed and that
    /// does not verify against the block L1 holds, with the signer as prover. Pays the sender
    /// REPORTER_BPS of the slashed amount, burns the rest, sets the roller's reputation to 0.
    /// @dev The inputs are built here from the Rollup: a copied proof (another roller's valid
    /// proof signed by the copier) fails for the copier's address, and is slashed.
    function slashInvalidProof(
        address roller,
        address rollup,
        uint256 l2Block,
        uint256 round,
        bytes32 statement,
        bytes calldata proof,
        bytes calldata signature
    ) external nonReentrant returns (uint256 amount, uint256 reporterShare, uint256 burned) {
        Submission memory submission =
            Submission(roller, rollup, TaskKind.Block, l2Block, round, statement, blockProofHash(proof));
        bytes32 offense = _checkSubmission(submission, signature);
        if (Rollup(rollup).statement(l2Block) != statement) revert StaleStatement(l2Block);
        _requireUnslashed(offense);
        if (_blockProofVerifies(submission, proof)) revert ProofIsValid();
        return _punish(submission, offense);
    }

    function _blockProofVerifies(Submission memory submission, bytes calldata proof)
        private
        view
        returns (bool)
    {
        uint256[] memory inputs = Rollup(submission.rollup).publicInputs(submission.index, submission.roller);
        IBlockVerifier verifier = _rollups[submission.rollup].blockVerifier;
        _requireGas(VERIFIER_GAS, 1);
        return verifier.verify{gas: VERIFIER_GAS}(proof, inputs);
    }

    /// @notice Slash `roller` for an aggregate of batch `batch` of `rollup` that it signed and that
    /// does not verify with the Rollup's batch verifier against the inputs L1 holds for the
    /// signed provers. Same payouts as `slashInvalidProof`.
    function slashInvalidAggregate(
        address roller,
        address rollup,
        uint256 batch,
        uint256 round,
        bytes32 statement,
        AggregateProof calldata aggregate,
        bytes calldata signature
    ) external nonReentrant returns (uint256 amount, uint256 reporterShare, uint256 burned) {
        Submission memory submission =
            Submission(roller, rollup, TaskKind.Aggregation, batch, round, statement, aggregateHash(aggregate));
        bytes32 offense = _checkSubmission(submission, signature);
        if (Rollup(rollup).batchStatement(batch) != statement) revert StaleStatement(batch);
        _requireUnslashed(offense);
        if (_aggregateVerifies(submission, aggregate)) revert ProofIsValid();
        return _punish(submission, offense);
    }

    function _aggregateVerifies(Submission memory submission, AggregateProof calldata aggregate)
        private
        view
        returns (bool)
    {
        uint256 k = _rollups[submission.rollup].batchSize;
        if (aggregate.provers.length != k || aggregate.a.length != k || aggregate.b.length != k) {
            revert WrongAggregateSize(aggregate.provers.length, aggregate.a.length, aggregate.b.length, k);
        }
        uint256 allowance = aggregateVerifierGas(k);
        _requireGas(allowance, k);
        return Rollup(submission.rollup).aggregateVerifies{gas: allowance}(
            submission.index * k + 1, aggregate.provers, aggregate.a, aggregate.b, aggregate.c
        );
    }

    /// The batch verifier's fixed allowance for an aggregate of `k` proofs.
    function aggregateVerifierGas(uint256 k) public pure returns (uint256) {
        return AGG_VERIFIER_GAS_BASE + k * AGG_VERIFIER_GAS_PER_PROOF;
    }

    /// Refuses to call a verifier that could get less than `allowance`: short of gas it would
    /// answer false, as for an invalid proof.
    function _requireGas(uint256 allowance, uint256 proofs) private view {
        uint256 needed = allowance + allowance / 63 + CALL_OVERHEAD + proofs * CALL_OVERHEAD_PER_PROOF;
        if (gasleft() < needed) revert NotEnoughGas(gasleft(), needed);
    }

    /// The rollup is served, the signature is the roller's and the roller exists; returns the
    /// offense key.
    function _checkSubmission(Submission memory sub, bytes calldata signature) private view returns (bytes32) {
        _requireEnabled(sub.rollup);
        bytes32 digest = submissionDigest(sub.rollup, sub.kind, sub.index, sub.round, sub.statement, sub.proofHash);
        (address signer, ECDSA.RecoverError error_,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (error_ != ECDSA.RecoverError.NoError || signer != sub.roller) revert BadSignature(sub.roller, signer);
        if (!_rollers[sub.roller].registered) revert UnknownRoller(sub.roller);
        return offenseKey(sub.rollup, sub.roller, sub.kind, sub.index, sub.statement);
    }

    function _requireUnslashed(bytes32 offense) private view {
        if (slashed[offense]) revert AlreadySlashed(offense);
    }

    function _punish(Submission memory sub, bytes32 offense)
        private
        returns (uint256 amount, uint256 reporterShare, uint256 burned)
    {
        slashed[offense] = true;
        (amount, reporterShare, burned) = _slash(sub.roller);
        uint256 oldRep = _rollers[sub.roller].rep;
        _rollers[sub.roller].rep = 0;
        // slots 0: a slash is not a settled record, and pays nothing.
        emit ReputationChanged(sub.roller, sub.rollup, sub.kind, sub.index, sub.round, 0, Outcome.Invalid, oldRep, 0);
        emit Slashed(
            sub.roller, msg.sender, sub.rollup, sub.kind, sub.index, sub.round, offense, amount, reporterShare, burned
        );
        if (reporterShare > 0) token.safeTransfer(msg.sender, reporterShare);
        if (burned > 0) ERC20Burnable(address(token)).burn(burned);
    }

    /// @notice The EIP-712 digest a roller signs for a proof submission to `rollup` on this chain.
    function submissionDigest(
        address rollup,
        TaskKind kind,
        uint256 index,
        uint256 round,
        bytes32 statement,
        bytes32 proofHash
    ) public view returns (bytes32) {
        bytes32 domainSeparator =
            keccak256(abi.encode(EIP712_DOMAIN_TYPEHASH, DOMAIN_NAME_HASH, DOMAIN_VERSION_HASH, block.chainid, rollup));
        bytes32 structHash =
            keccak256(abi.encode(PROOF_SUBMISSION_TYPEHASH, uint8(kind), index, round, statement, proofHash));
        return MessageHashUtils.toTypedDataHash(domainSeparator, structHash);
    }

    /// @notice keccak256(proof): a block proof alone, as its proof system encodes it (Groth16:
    /// abi.encode(a, b, c)); its inputs come from L1.
    function blockProofHash(bytes calldata proof) public pure returns (bytes32) {
        return keccak256(proof);
    }

    /// @notice keccak256(abi.encode(provers, a, b, c)): an aggregate and whom its proofs name.
    function aggregateHash(AggregateProof calldata aggregate) public pure returns (bytes32) {
        return keccak256(abi.encode(aggregate.provers, aggregate.a, aggregate.b, aggregate.c));
    }

    /// @notice What "one offense slashes once" counts: a roller, a task of a rollup and the
    /// statement it was to prove. The round and the proof are left out, so the same or another
    /// invalid proof of that statement, in any round, is the same offense; a block reverted and
    /// committed anew with other contents is a new statement.
    function offenseKey(address rollup, address roller, TaskKind kind, uint256 index, bytes32 statement)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(rollup, roller, uint8(kind), index, statement));
    }

    /// SLASH_BPS of active plus unbonding stake: from the active stake first, then from the
    /// unbonding entries newest first (at most MAX_UNBONDING_ENTRIES of them). Newest first
    /// because stake that started unbonding last is the likeliest to have fled the offense.
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

    /// Rollers in registration order with their weights; read it with `eth_call` at a block's
    /// `rosterBlock` to get that block's roster.
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
