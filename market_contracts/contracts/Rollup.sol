// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";
import {Randomness} from "./Randomness.sol";

/// The batch verifier that `zkp.solidity` generates from the block circuit's verification key.
interface IBatchVerifier {
    function verifyBatch(
        uint256[2][] calldata a,
        uint256[2][2][] calldata b,
        uint256[2] calldata c,
        uint256[4][] calldata inputs
    ) external view returns (bool);
}

/// @title Rollup: the L1 record of the L2's blocks, and the L1 queue of deposits and forced
/// withdrawals.
/// @notice The sequencer commits each block's new root with the data it posts
/// (`sequencer/block_data.py` defines it: a count byte, 11-byte records, 32-byte entries, 20-byte
/// recipients); the contract parses and hashes that data itself (SHA-256 of the fixed-length
/// body, mod 2^253: the block's `dataHash`), so a proof can only be for the data that is on L1.
/// Every `batchSize` committed blocks are finalized together with one aggregated Groth16 proof,
/// each block proven by the prover whose address its proof is bound to. The sequencer may drop
/// blocks that are not finalized yet, to replace them.
///
/// L2 block 0 is the genesis state: Finalized at deployment. Blocks count from 1, and block n's old
/// root is always block n-1's new root, so it is neither posted nor stored.
///
/// Storage, for gas (docs/rollup-data.md, "Storage"): committing a block of transfers writes no
/// fresh slot. A not yet finalized block lives in a ring of `ringSize` entries (new root, data
/// hash, and a word of L1 block, time, draw pin and queue position), every slot written nonzero
/// at deployment, as Uniswap v3's oracle observations, so that a commit only overwrites; the
/// counters share one slot. A commit never overwrites the entry of a block that is not finalized:
/// the sequencer runs at most `ringSize` blocks ahead of finalization. `finalizeBatch` copies
/// what outlives the ring (roots, data hash, prover, draw pin) to permanent storage, so every
/// view the market calls (settlement, slashing) answers for every block ever finalized. Only a
/// finalized block's commit L1 block and time are forgotten once its entry is overwritten.
///
/// The first commit of block number n pins what the market draws n's provers from (market-spec.md,
/// "Randomness and the roster of a block"): the roster is the last roster snapshot taken before
/// the commit's L1 block (and no older than SNAPSHOT_MAX_AGE at the commit's time), the randomness
/// is the hash of the block after it. All stay pinned through reverts, so neither committing again
/// nor choosing when to commit steers a draw.
///
/// The queue: the Bridge appends the keccak hash of each deposit and forced withdrawal
/// (`enqueue`); a block's DEPOSIT, FORCED and FORCED_SKIP records must be the next entries, in
/// order, exactly. An entry older than `forceDelay` must be in the next block (unless that block
/// takes as many as it can). If no batch is finalized for `escapeDelay`, the rollup freezes for
/// good: no commit, finalization or revert; the Bridge then pays out from `finalizedRoot`.
contract Rollup {
    enum BlockStatus {
        None,
        Committed,
        Finalized
    }

    struct BlockInfo {
        uint256 oldRoot;
        uint256 newRoot;
        uint256 dataHash;
        bytes32 randomness;
        /// The L1 block and time of the commit L1 holds; 0 once a finalized block's ring entry
        /// is overwritten (`committedAt` says so; the BlockCommitted event keeps them).
        uint256 l1Block;
        uint256 timestamp;
        BlockStatus status;
        /// The prover its finalizing batch named; zero until then.
        address prover;
        uint256 rosterBlock;
        uint256 randomnessBlock;
    }

    /// The deployment's parameters (a struct: too many for the stack as separate arguments).
    struct Config {
        address sequencer;
        IBatchVerifier verifier;
        /// the only account that appends to the queue
        address bridge;
        uint256 batchSize;
        /// the circuit profile's record slots and entries (`sequencer.circuit_inputs`)
        uint256 maxTransfers;
        uint256 entries;
        uint256 forceDelay;
        uint256 escapeDelay;
        uint256 ringSize;
    }

    /// A not yet finalized block's ring entry (and, for a finalized block, until overwritten).
    struct RingEntry {
        uint256 newRoot;
        uint256 dataHash;
        /// l1Block | timestamp << 40 | pinBlock << 80 | pinTime << 120 | queueStart << 160 | 1 << 255
        uint256 meta;
    }

    /// What a finalized block keeps for good (written by finalizeBatch).
    struct FinalBlock {
        uint256 newRoot;
        uint256 dataHash;
        /// prover | pinBlock << 160 | pinTime << 200
        uint256 info;
    }

    struct QueueEntry {
        bytes32 hash;
        uint256 time;
    }

    /// BN254's scalar field modulus: roots are field elements of the circuit.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;

    // The record layout of block_data.py: op (3) | a (24) | b (24) | mantissa (32) | exponent (5).
    uint256 internal constant RECORD_BYTES = 11;
    uint256 internal constant ENTRY_BYTES = 32;
    uint256 internal constant RECIPIENT_BYTES = 20;
    /// a record is the top 88 bits of the word loaded at its offset
    uint256 internal constant RECORD_SHIFT = 256 - 8 * RECORD_BYTES;
    uint256 internal constant OP_TRANSFER = 1;
    uint256 internal constant OP_OPEN = 2;
    uint256 internal constant OP_DEPOSIT = 3;
    uint256 internal constant OP_WITHDRAW = 4;
    uint256 internal constant OP_FORCED = 5;
    uint256 internal constant OP_FORCED_SKIP = 6;
    /// dataHash = sha256(body) mod 2^253: every such number is a BN254 field element
    uint256 internal constant COMMITMENT_MASK = (1 << 253) - 1;

    // The packed counters (`_state`), 40 bits each: block numbers, queue positions and times.
    uint256 internal constant FIELD_BITS = 40;
    uint256 internal constant FIELD_MASK = (1 << 40) - 1; // FIELD_BITS: assembly takes literals only
    uint256 internal constant LAST_COMMITTED = 0;
    uint256 internal constant LAST_FINALIZED = 40;
    /// the highest block number ever committed: above it a commit is a first commit (pins the draw)
    uint256 internal constant HIGH_WATER = 80;
    uint256 internal constant QUEUE_NEXT = 120;
    uint256 internal constant QUEUE_LENGTH = 160;
    uint256 internal constant LAST_FINALIZED_TIME = 200;
    /// the lastCommitted and high water fields, and the queueNext field (literals, for assembly)
    uint256 internal constant COMMITTED_BITS = 0xffffffffff0000000000ffffffffff;
    uint256 internal constant QUEUE_NEXT_BITS = 0x00ffffffffff000000000000000000000000000000;

    // A ring entry's meta word, 40 bits a field; bit 255 keeps it nonzero.
    uint256 internal constant META_L1_BLOCK = 0;
    uint256 internal constant META_TIMESTAMP = 40;
    uint256 internal constant META_PIN_BLOCK = 80;
    uint256 internal constant META_PIN_TIME = 120;
    uint256 internal constant META_QUEUE_START = 160;
    uint256 internal constant META_MARK = 1 << 255;
    /// what a ring slot holds at deployment: nonzero, so that a commit overwrites
    uint256 internal constant RING_FILL = 1;
    /// The ring's first slot: entry i is slots RING_BASE + 3i .. + 3i + 2 (newRoot, dataHash,
    /// meta), addressed without a mapping's keccak; as unlikely to meet another variable's slot
    /// as a mapping's own.
    /// (keccak256("provernet.Rollup.ring"), written out: assembly takes literals only)
    uint256 internal constant RING_BASE = 0xc6bef9821496ec41017e5356b917ffb8277159701d3ff850ae51cdcd488f3ae6;
    uint256 internal constant RING_ENTRY_SLOTS = 3;
    /// What `_checkShape` adds up for op k: bits 32k.. of this word. In each 32 bits, the entries
    /// it consumes at bit 0 (OPEN, DEPOSIT, WITHDRAW, FORCED, FORCED_SKIP), the recipients it posts
    /// at bit 10 (FORCED, FORCED_SKIP), and at bit 20 whether it is no op (0: padding is never
    /// posted; 7): up to 255 records, no field carries into the next. Written out (assembly
    /// would compute an expression at each use): (1 << 20) for 0 PAD, 0 for 1 TRANSFER,
    /// 1 << 32k for k = 2 OPEN, 3 DEPOSIT, 4 WITHDRAW, (1 | 1 << 10) << 32k for 5 FORCED and
    /// 6 FORCED_SKIP, (1 << 20) << 224 for 7 (tests/market_contracts/test_rollup.py checks it).
    /// the op bits of three consecutive records in the word loaded at the first, and what they
    /// hold when all are TRANSFER (1 << 253 | 1 << 165 | 1 << 77)
    uint256 internal constant TRIPLE_OP_MASK = 0xe000000000000000000000e000000000000000000000e0000000000000000000;
    uint256 internal constant TRIPLE_OP_TRANSFERS = 0x2000000000000000000000200000000000000000000020000000000000000000;
    uint256 public constant OP_COUNTS = 0x10000000000401000004010000000100000001000000010000000000100000;

    address public immutable sequencer;
    IBatchVerifier public immutable verifier;
    address public immutable bridge;
    uint256 public immutable batchSize;
    /// the circuit profile's record slots: a block posts 1 to maxTransfers records
    uint256 public immutable maxTransfers;
    /// the circuit profile's entries: a block consumes at most this many
    uint256 public immutable entries;
    uint256 public immutable forceDelay;
    uint256 public immutable escapeDelay;
    uint256 public immutable ringSize;
    /// the body's length (`block_data.body`): maxTransfers records and `entries` entries
    uint256 private immutable _bodyLength;

    uint256 private _state;
    mapping(uint256 => FinalBlock) private _final;
    mapping(uint256 => bytes32) private _randomness;
    mapping(uint256 => bytes32) private _exitRoots;
    mapping(uint256 => QueueEntry) private _queue;

    event Genesis(bytes accounts);
    /// The number alone, not indexed (commitBlock's gas: a topic costs 375, a data word 256;
    /// followers read ranges of L1 blocks, none filters by number): followers read the new root
    /// and data hash from `blockInfo` as of the event's L1 block (or the posted data from the
    /// transaction), the L1 block and time from its block, the draw pin from `drawBlocks`.
    event BlockCommitted(uint256 blockNumber);
    event RandomnessRecorded(uint256 indexed blockNumber, bytes32 randomness, uint256 sourceBlock);
    event BatchFinalized(uint256 indexed firstBlock, uint256 lastBlock, address[] provers);
    event BlocksReverted(uint256 indexed fromBlock, uint256 toBlock);
    event Enqueued(uint256 indexed position, bytes32 entryHash);

    error InvalidParams(string reason);
    error NotSequencer(address caller);
    error NotBridge(address caller);
    error RollupFrozen(uint256 lastFinalizedTime, uint256 escapeDelay);
    error NotAFieldElement(uint256 value);
    error RingFull(uint256 blockNumber, uint256 lastFinalized);
    error BadRecordCount(uint256 count, uint256 maxTransfers);
    error DataTooShort(uint256 length, uint256 count);
    error BadOp(uint256 record, uint256 op);
    error WrongDataLength(uint256 length, uint256 expected);
    error TooManyEntries(uint256 consumed, uint256 entries);
    error RecipientNotAnAddress(uint256 record, uint256 entry);
    error QueueExhausted(uint256 record, uint256 position);
    error NotNextInQueue(uint256 record, uint256 position);
    error ForcedInclusionDue(uint256 position);
    error BatchOutOfOrder(uint256 firstBlock, uint256 expected);
    error WrongBatchSize(uint256 provers, uint256 proofs, uint256 batchSize);
    error BlockNotCommitted(uint256 blockNumber);
    error BlockForgotten(uint256 blockNumber);
    error InvalidBatchProof(uint256 firstBlock);
    error CannotRevertFinalized(uint256 fromBlock, uint256 lastFinalized);
    error NothingToRevert(uint256 fromBlock, uint256 lastCommitted);
    error BlockNeverCommitted(uint256 blockNumber);
    error NoSuchQueueEntry(uint256 position, uint256 queueLength);

    modifier onlySequencer() {
        if (msg.sender != sequencer) revert NotSequencer(msg.sender);
        _;
    }

    constructor(Config memory config, uint256 genesisRoot, bytes memory genesisAccounts) {
        if (config.sequencer == address(0)) revert InvalidParams("sequencer is the zero address");
        if (address(config.verifier).code.length == 0) revert InvalidParams("verifier has no code");
        if (config.bridge == address(0)) revert InvalidParams("bridge is the zero address");
        if (genesisRoot >= R) revert InvalidParams("genesisRoot is not a field element");
        if (config.batchSize == 0) revert InvalidParams("batchSize must be positive");
        if (config.maxTransfers == 0 || config.maxTransfers > type(uint8).max) {
            revert InvalidParams("maxTransfers must be in 1..255: the count is one byte");
        }
        if (config.entries == 0 || config.entries > type(uint8).max) revert InvalidParams("entries must be in 1..255");
        if (config.escapeDelay <= config.forceDelay) {
            revert InvalidParams("escapeDelay must exceed forceDelay");
        }
        // Finalizing a batch needs its blocks committed at once: they must fit in the ring.
        if (config.ringSize < config.batchSize) revert InvalidParams("ringSize must be >= batchSize");
        sequencer = config.sequencer;
        verifier = config.verifier;
        bridge = config.bridge;
        batchSize = config.batchSize;
        maxTransfers = config.maxTransfers;
        entries = config.entries;
        forceDelay = config.forceDelay;
        escapeDelay = config.escapeDelay;
        ringSize = config.ringSize;
        _bodyLength = config.maxTransfers * RECORD_BYTES + config.entries * ENTRY_BYTES;
        for (uint256 i = 0; i < config.ringSize; ++i) {
            RingEntry storage entry = _ringEntry(i);
            entry.newRoot = RING_FILL;
            entry.dataHash = RING_FILL;
            entry.meta = META_MARK;
        }
        // Genesis never leaves: its "commit" is the deployment, kept where a draw pin would be.
        _final[0] = FinalBlock(genesisRoot, 0, block.number << 160 | block.timestamp << 200);
        _state = block.timestamp << LAST_FINALIZED_TIME;
        emit Genesis(genesisAccounts);
    }

    // ---------------------------------------------------------------- sequencer

    /// @notice Commit the next L2 block: its new root, and `data`, what it posts
    /// (`block_data.calldata`). Refuses data `block_data.parse` refuses, queue records that are not
    /// the queue's next entries, and a block that leaves an overdue queue entry out.
    /// @dev The data reaches L1 as this call's calldata, which is what makes the state
    /// rebuildable; the event carries only the block's number. Written for gas (a block of 16
    /// transfers is under 3,000 gas a transfer, of 64 under 1,000, docs/rollup-data.md): the
    /// common block, a first commit of transfers alone with the queue empty, is checked
    /// (three records a word), hashed and written here, as `_commitChecked` would write it; any
    /// other block goes through `_commitChecked`, which refuses what must be refused.
    function commitBlock(uint256 newRoot, bytes calldata data) external returns (uint256 blockNumber) {
        if (msg.sender != sequencer) revert NotSequencer(msg.sender);
        uint256 state = _state;
        uint256 escapeDelay_ = escapeDelay;
        uint256 ringSize_ = ringSize;
        uint256 maxTransfers_ = maxTransfers;
        uint256 bodyLength = _bodyLength;
        bytes32 topic = BlockCommitted.selector;
        assembly ("memory-safe") {
            blockNumber := add(and(state, FIELD_MASK), 1)
            let count := shr(248, calldataload(data.offset))
            // _commitChecked's checks in its order: not frozen (as _isFrozen), a field element,
            // the ring not full (unchecked, as there); then a first commit, no queue entry to
            // take or to be overdue (queueNext = queueLength), and count TRANSFER records alone
            let plain := and(
                and(iszero(gt(sub(timestamp(), shr(LAST_FINALIZED_TIME, state)), escapeDelay_)), lt(newRoot, R)),
                and(iszero(gt(blockNumber, add(and(shr(LAST_FINALIZED, state), FIELD_MASK), ringSize_))),
                    gt(blockNumber, and(shr(HIGH_WATER, state), FIELD_MASK)))
            )
            plain := and(plain, and(
                iszero(and(xor(shr(QUEUE_NEXT, state), shr(QUEUE_LENGTH, state)), FIELD_MASK)),
                and(and(iszero(iszero(count)), iszero(gt(count, maxTransfers_))),
                    eq(data.length, add(1, mul(count, RECORD_BYTES))))
            ))
            if plain {
                // The records' ops, three a word, each word loaded where a record starts: every
                // third record's, twelve records an iteration, then the last twelve; below twelve
                // records, every third record's, then the one or two left, their ops alone. Each
                // word is XORed with TRANSFER's ops and ORed into one: its op bits are zero if
                // all are TRANSFER.
                let transfers := TRIPLE_OP_TRANSFERS
                let ptr := add(data.offset, 1)
                let flipped
                switch lt(count, 12)
                case 0 {
                    let last := add(ptr, mul(sub(count, 3), RECORD_BYTES))
                    let end := add(ptr, mul(div(count, 12), 132))
                    for {} lt(ptr, end) { ptr := add(ptr, 132) } {
                        flipped := or(
                            or(or(xor(calldataload(ptr), transfers), xor(calldataload(add(ptr, 33)), transfers)),
                                or(xor(calldataload(add(ptr, 66)), transfers), xor(calldataload(add(ptr, 99)), transfers))),
                            flipped
                        )
                    }
                    flipped := or(
                        or(xor(calldataload(sub(last, 33)), transfers), xor(calldataload(sub(last, 66)), transfers)),
                        or(xor(calldataload(sub(last, 99)), transfers), or(xor(calldataload(last), transfers), flipped))
                    )
                }
                default {
                    let end := add(ptr, mul(div(count, 3), 33))
                    for {} lt(ptr, end) { ptr := add(ptr, 33) } {
                        flipped := or(xor(calldataload(ptr), transfers), flipped)
                    }
                    // the top 88 bits a record left (none if count is a multiple of three)
                    let left := not(shr(mul(mod(count, 3), 88), not(0)))
                    flipped := or(and(xor(calldataload(ptr), transfers), left), flipped)
                }
                plain := iszero(and(flipped, TRIPLE_OP_MASK))
            }
            if plain {
                // _dataHash of a block without entries: the records over the zeros past the free
                // pointer (nothing was written there)
                let start := mload(0x40)
                calldatacopy(start, add(data.offset, 1), mul(count, RECORD_BYTES))
                if iszero(staticcall(gas(), 0x02, start, bodyLength, 0x00, 0x20)) { revert(0, 0) }
                let slot := add(RING_BASE, mul(RING_ENTRY_SLOTS, mod(blockNumber, ringSize_)))
                sstore(slot, newRoot)
                // mod 2^253 (COMMITMENT_MASK), shifted out: cheaper than the mask's constant
                sstore(add(slot, 1), shr(3, shl(3, mload(0x00))))
                // a first commit pins its own L1 block and time; its queue start is queueNext
                let when := or(shl(META_L1_BLOCK, number()), shl(META_TIMESTAMP, timestamp()))
                sstore(add(slot, 2), or(or(META_MARK, or(when, shl(META_PIN_BLOCK, when))),
                    shl(sub(META_QUEUE_START, QUEUE_NEXT), and(state, QUEUE_NEXT_BITS))))
                // lastCommitted and the high water mark are the block; the queue did not move
                sstore(_state.slot, or(and(state, not(COMMITTED_BITS)), or(blockNumber, shl(HIGH_WATER, blockNumber))))
                mstore(0x00, blockNumber)
                log1(0x00, 0x20, topic)
                return(0x00, 0x20)
            }
        }
        return _commitChecked(state, newRoot, data);
    }

    /// commitBlock of any block: every check in order, the queue records taken, the exit root
    /// and the ring entry written.
    function _commitChecked(uint256 state, uint256 newRoot, bytes calldata data)
        private
        returns (uint256 blockNumber)
    {
        _requireNotFrozen(state);
        if (newRoot >= R) revert NotAFieldElement(newRoot);
        uint256 highWater;
        unchecked {
            blockNumber = (state & FIELD_MASK) + 1;
            uint256 lastFinalized_ = state >> LAST_FINALIZED & FIELD_MASK;
            // The entry it overwrites is block blockNumber - ringSize's: it must be finalized.
            if (blockNumber > lastFinalized_ + ringSize) revert RingFull(blockNumber, lastFinalized_);
            highWater = state >> HIGH_WATER & FIELD_MASK;
        }
        (uint256 count, uint256 consuming) = _checkShape(data);
        uint256 queueStart = state >> QUEUE_NEXT & FIELD_MASK;
        uint256 queueNext_ = queueStart;
        if (consuming > 0) {
            bytes32 exitRoot_;
            (queueNext_, exitRoot_) = _applyEntries(data, count, consuming, blockNumber, queueStart);
            // A dropped block of this number may have paid exits: its root must not outlive it.
            if (exitRoot_ != bytes32(0) || blockNumber <= highWater) _exitRoots[blockNumber] = exitRoot_;
        } else if (blockNumber <= highWater && _exitRoots[blockNumber] != bytes32(0)) {
            delete _exitRoots[blockNumber];
        }
        if (queueNext_ < (state >> QUEUE_LENGTH & FIELD_MASK)) _requireNotOverdue(queueStart, queueNext_);
        uint256 dataHash = _dataHash(data, count, consuming);
        uint256 ringSize_ = ringSize;
        bytes32 topic = BlockCommitted.selector;
        assembly ("memory-safe") {
            let slot := add(RING_BASE, mul(RING_ENTRY_SLOTS, mod(blockNumber, ringSize_)))
            let pin := or(shl(META_PIN_BLOCK, number()), shl(META_PIN_TIME, timestamp()))
            if iszero(gt(blockNumber, highWater)) {
                // A re-commit after a revert draws from the same roster and randomness.
                pin := and(sload(add(slot, 2)), or(shl(META_PIN_BLOCK, FIELD_MASK), shl(META_PIN_TIME, FIELD_MASK)))
            }
            sstore(slot, newRoot)
            sstore(add(slot, 1), dataHash)
            sstore(
                add(slot, 2),
                or(or(or(META_MARK, pin), or(shl(META_L1_BLOCK, number()), shl(META_TIMESTAMP, timestamp()))),
                    shl(META_QUEUE_START, queueStart))
            )
            // lastCommitted, the high water mark and the queue's next position
            state := or(and(state, not(or(FIELD_MASK, shl(QUEUE_NEXT, FIELD_MASK)))),
                or(blockNumber, shl(QUEUE_NEXT, queueNext_)))
            if gt(blockNumber, highWater) {
                state := or(and(state, not(shl(HIGH_WATER, FIELD_MASK))), shl(HIGH_WATER, blockNumber))
            }
            mstore(0x00, blockNumber)
            log1(0x00, 0x20, topic)
        }
        _state = state;
    }

    /// @notice Drop the committed blocks fromBlock..lastCommitted, none of them finalized; the next
    /// commit is block `fromBlock` again, from the new root of block fromBlock - 1, and the queue
    /// entries they consumed are the next again. The pinned draw blocks and recorded randomness
    /// are kept.
    function revertBlocks(uint256 fromBlock) external onlySequencer {
        uint256 state = _state;
        _requireNotFrozen(state);
        uint256 last = _field(state, LAST_COMMITTED);
        uint256 lastFinalized_ = _field(state, LAST_FINALIZED);
        if (fromBlock <= lastFinalized_) revert CannotRevertFinalized(fromBlock, lastFinalized_);
        if (fromBlock > last) revert NothingToRevert(fromBlock, last);
        uint256 queueStart = _ringEntry(fromBlock).meta >> META_QUEUE_START & FIELD_MASK;
        state = _setField(state, LAST_COMMITTED, fromBlock - 1);
        _state = _setField(state, QUEUE_NEXT, queueStart);
        emit BlocksReverted(fromBlock, last);
    }

    // ---------------------------------------------------------------- block data

    /// The record count and the entries consumed, after `block_data.parse`'s checks in its order.
    /// @dev The records are read one by one (`_countOps`) for their counts and the first refusal.
    function _checkShape(bytes calldata data) private view returns (uint256 count, uint256 consuming) {
        assembly ("memory-safe") {
            count := shr(248, calldataload(data.offset))
            if iszero(data.length) { count := 0 }
        }
        if (count == 0 || count > maxTransfers) revert BadRecordCount(count, maxTransfers);
        // unchecked from here: count < 256, and data.length is a calldata length
        unchecked {
            uint256 recordsEnd = 1 + count * RECORD_BYTES;
            if (data.length < recordsEnd) revert DataTooShort(data.length, count);
            uint256 forced;
            (consuming, forced) = _countOps(data, count);
            uint256 expected = recordsEnd + consuming * ENTRY_BYTES + forced * RECIPIENT_BYTES;
            if (data.length != expected) revert WrongDataLength(data.length, expected);
            if (consuming > entries) revert TooManyEntries(consuming, entries);
        }
    }

    /// The entries and recipients the `count` records take; BadOp for the first record whose op
    /// is 0 or 7.
    function _countOps(bytes calldata data, uint256 count) private pure returns (uint256 consuming, uint256 forced) {
        uint256 counts;
        assembly ("memory-safe") {
            let ptr := add(data.offset, 1)
            let end := add(ptr, mul(count, RECORD_BYTES))
            for {} lt(ptr, end) { ptr := add(ptr, RECORD_BYTES) } {
                counts := add(counts, and(shr(shl(5, shr(253, calldataload(ptr))), OP_COUNTS), 0xffffffff))
            }
        }
        if (counts >> 20 & 0x3ff != 0) _revertBadOp(data, count);
        return (counts & 0x3ff, counts >> 10 & 0x3ff);
    }

    /// Reverts BadOp with the first record whose op is 0 or 7.
    function _revertBadOp(bytes calldata data, uint256 count) private pure {
        for (uint256 k = 0; k < count; ++k) {
            uint256 op = uint8(data[1 + k * RECORD_BYTES]) >> 5;
            if (op == 0 || op > OP_FORCED_SKIP) revert BadOp(k, op);
        }
    }

    /// Where `_applyEntries` is in the data and the queue.
    struct Cursor {
        uint256 entryAt;
        uint256 recipientAt;
        uint256 next;
        uint256 queueLength;
        uint256 exitCount;
    }

    /// The queue check and the exits of a block that consumes entries: each DEPOSIT, FORCED and
    /// FORCED_SKIP record must be the queue's next entry (`block_data.queue_hash`); returns the
    /// queue position after them and the exit root (`block_data.exit_root`; zero without exits).
    function _applyEntries(bytes calldata data, uint256 count, uint256 consuming, uint256 blockNumber, uint256 next)
        private
        view
        returns (uint256, bytes32)
    {
        Cursor memory cursor = Cursor(1 + count * RECORD_BYTES, 1 + count * RECORD_BYTES + consuming * ENTRY_BYTES,
            next, _field(_state, QUEUE_LENGTH), 0);
        bytes32[] memory leaves = new bytes32[](consuming);
        for (uint256 k = 0; k < count; ++k) {
            uint256 word = uint256(bytes32(data[1 + k * RECORD_BYTES:])) >> RECORD_SHIFT;
            uint256 op = word >> 85;
            if (op == OP_TRANSFER) continue;
            uint256 entry = uint256(bytes32(data[cursor.entryAt:]));
            cursor.entryAt += ENTRY_BYTES;
            if (op == OP_OPEN) continue;
            uint256 amount = (word >> 5 & 0xffffffff) * 10 ** (word & 31);
            uint256 recipient = entry;
            if (op == OP_WITHDRAW) {
                // The signed recipient is the entry: it must be an address to pay it.
                if (entry >> 160 != 0) revert RecipientNotAnAddress(k, entry);
            } else {
                if (op != OP_DEPOSIT) {
                    recipient = uint160(bytes20(data[cursor.recipientAt:]));
                    cursor.recipientAt += RECIPIENT_BYTES;
                }
                _consumeQueue(cursor, k, _queueHash(op, word, entry, amount, recipient));
            }
            if (op == OP_WITHDRAW || op == OP_FORCED) {
                leaves[cursor.exitCount] =
                    keccak256(abi.encodePacked(blockNumber, cursor.exitCount, address(uint160(recipient)), amount));
                ++cursor.exitCount;
            }
        }
        return (cursor.next, cursor.exitCount == 0 ? bytes32(0) : _merkleRoot(leaves, cursor.exitCount));
    }

    /// `block_data.queue_hash` of a DEPOSIT, FORCED or FORCED_SKIP record.
    function _queueHash(uint256 op, uint256 word, uint256 entry, uint256 amount, uint256 recipient)
        private
        pure
        returns (bytes32)
    {
        if (op == OP_DEPOSIT) return keccak256(abi.encodePacked(uint8(OP_DEPOSIT), entry, amount));
        return keccak256(abi.encodePacked(uint8(OP_FORCED), uint24(word >> 61), entry, amount, address(uint160(recipient))));
    }

    /// Record `k`'s hash must be the queue's next entry; then the next is the one after.
    function _consumeQueue(Cursor memory cursor, uint256 k, bytes32 hash) private view {
        if (cursor.next >= cursor.queueLength) revert QueueExhausted(k, cursor.next);
        if (_queue[cursor.next].hash != hash) revert NotNextInQueue(k, cursor.next);
        ++cursor.next;
    }

    /// `block_data.exit_root`: the leaves padded with zero words to a power of two, paired with
    /// OpenZeppelin's commutative keccak (what `MerkleProof.verify` checks).
    function _merkleRoot(bytes32[] memory nodes, uint256 count) private pure returns (bytes32) {
        uint256 width = 1;
        while (width < count) width *= 2;
        while (width > 1) {
            for (uint256 i = 0; i < width; i += 2) {
                bytes32 left = i < count ? nodes[i] : bytes32(0);
                bytes32 right = i + 1 < count ? nodes[i + 1] : bytes32(0);
                nodes[i / 2] = Hashes.commutativeKeccak256(left, right);
            }
            count = (count + 1) / 2;
            width /= 2;
        }
        return nodes[0];
    }

    /// A block that leaves the queue's next entry (at `next`) unconsumed when it is FORCE_DELAY
    /// old is refused, unless the block took as many queue entries as a block can: a backlog
    /// cannot stall the rollup, and no empty or short block can dodge the delay.
    function _requireNotOverdue(uint256 queueStart, uint256 next) private view {
        if (_queue[next].time + forceDelay > block.timestamp) return;
        uint256 capacity = entries < maxTransfers ? entries : maxTransfers;
        if (next - queueStart < capacity) revert ForcedInclusionDue(next);
    }

    /// sha256(body) mod 2^253, the body (`block_data.body`) built in memory: the records padded
    /// with zero records to maxTransfers, then the entries padded with zero words to `entries`.
    /// @dev Built at the free memory pointer as scratch (nothing is allocated): the posted bytes
    /// copied in, over zeros.
    function _dataHash(bytes calldata data, uint256 count, uint256 consuming) private view returns (uint256 hash) {
        uint256 recordsLength;
        unchecked {
            recordsLength = maxTransfers * RECORD_BYTES; // maxTransfers < 256
        }
        uint256 length = _bodyLength;
        assembly ("memory-safe") {
            let start := mload(0x40)
            let records := add(data.offset, 1)
            let postedRecords := mul(count, RECORD_BYTES)
            // The padding must be zeros: memory past the free pointer is, unless _applyEntries
            // hashed there (it encodes its hashes' inputs past the pointer).
            if consuming { calldatacopy(start, calldatasize(), length) }
            calldatacopy(start, records, postedRecords)
            calldatacopy(add(start, recordsLength), add(records, postedRecords), mul(consuming, ENTRY_BYTES))
            if iszero(staticcall(gas(), 0x02, start, length, 0x00, 0x20)) { revert(0, 0) }
            hash := and(mload(0x00), COMMITMENT_MASK)
        }
    }

    // ---------------------------------------------------------------- the queue

    /// @notice Append an L1 message's hash (`block_data.deposit_hash` or `forced_hash`) to the
    /// queue; the Bridge alone, which checked and paid for it. Its position is returned.
    function enqueue(bytes32 entryHash) external returns (uint256 position) {
        if (msg.sender != bridge) revert NotBridge(msg.sender);
        uint256 state = _state;
        position = _field(state, QUEUE_LENGTH);
        _queue[position] = QueueEntry(entryHash, block.timestamp);
        _state = _setField(state, QUEUE_LENGTH, position + 1);
        emit Enqueued(position, entryHash);
    }

    function queueLength() external view returns (uint256) {
        return _field(_state, QUEUE_LENGTH);
    }

    /// The position of the queue's next entry for a block to consume.
    function queueNext() external view returns (uint256) {
        return _field(_state, QUEUE_NEXT);
    }

    /// The queue position the last finalized state has consumed up to: what the unfinalized
    /// blocks took after it is not in `finalizedRoot`, so once frozen those deposits are refunded
    /// (`Bridge.reclaimDeposit`) rather than lost.
    function finalizedQueueNext() external view returns (uint256) {
        uint256 state = _state;
        uint256 finalized = _field(state, LAST_FINALIZED);
        if (finalized == _field(state, LAST_COMMITTED)) return _field(state, QUEUE_NEXT);
        // A block not finalized never leaves the ring (RingFull), so its queue start is there.
        return _ringEntry(finalized + 1).meta >> META_QUEUE_START & FIELD_MASK;
    }

    function queueEntry(uint256 position) external view returns (bytes32 hash, uint256 time) {
        uint256 length = _field(_state, QUEUE_LENGTH);
        if (position >= length) revert NoSuchQueueEntry(position, length);
        QueueEntry storage entry = _queue[position];
        return (entry.hash, entry.time);
    }

    // ---------------------------------------------------------------- escape hatch

    /// @notice Whether no batch was finalized for longer than escapeDelay: then nothing moves the
    /// state again, and the Bridge pays exits from `finalizedRoot`.
    function frozen() public view returns (bool) {
        return _isFrozen(_state);
    }

    function lastFinalizedTime() external view returns (uint256) {
        return _field(_state, LAST_FINALIZED_TIME);
    }

    /// The last finalized block's new root (the genesis root until a batch is finalized).
    function finalizedRoot() external view returns (uint256) {
        return _final[_field(_state, LAST_FINALIZED)].newRoot;
    }

    /// The exit root of committed block `blockNumber` (`block_data.exit_root`): zero if it pays no
    /// exit or is not committed. The Bridge pays claims only for finalized blocks.
    function exitRoot(uint256 blockNumber) external view returns (bytes32) {
        if (blockNumber > _field(_state, LAST_COMMITTED)) return bytes32(0);
        return _exitRoots[blockNumber];
    }

    function _isFrozen(uint256 state) private view returns (bool) {
        // lastFinalizedTime is a past block's time: the difference cannot underflow
        unchecked {
            return block.timestamp - _field(state, LAST_FINALIZED_TIME) > escapeDelay;
        }
    }

    function _requireNotFrozen(uint256 state) private view {
        if (_isFrozen(state)) revert RollupFrozen(_field(state, LAST_FINALIZED_TIME), escapeDelay);
    }

    // ---------------------------------------------------------------- finalization

    /// @notice Finalize the next batch, blocks firstBlock .. firstBlock + batchSize - 1, with the
    /// aggregate (a, b, c) of one proof per block, proof i made by (and bound to) `provers[i]`.
    /// @dev Anyone may call it: the proof is what matters. The public inputs of block n are built
    /// here from what commitBlock stored, so a proof is only ever checked against L1's record.
    /// Each block's roots, data hash, prover and draw pin are copied out of the ring for good.
    function finalizeBatch(
        uint256 firstBlock,
        address[] calldata provers,
        uint256[2][] calldata a,
        uint256[2][2][] calldata b,
        uint256[2] calldata c
    ) external {
        uint256 state = _state;
        _requireNotFrozen(state);
        _requireNextBatch(state, firstBlock, provers.length, a.length);
        if (!aggregateVerifies(firstBlock, provers, a, b, c)) {
            revert InvalidBatchProof(firstBlock);
        }
        for (uint256 i = 0; i < provers.length; ++i) {
            RingEntry storage entry = _ringEntry(firstBlock + i);
            uint256 pin = entry.meta >> META_PIN_BLOCK & (1 << 2 * FIELD_BITS) - 1;
            // Kept for settlement and slashing: who proved the block that L1 accepted, and what.
            _final[firstBlock + i] = FinalBlock(entry.newRoot, entry.dataHash, uint160(provers[i]) | pin << 160);
        }
        uint256 lastBlock = firstBlock + provers.length - 1;
        state = _setField(state, LAST_FINALIZED, lastBlock);
        _state = _setField(state, LAST_FINALIZED_TIME, block.timestamp);
        emit BatchFinalized(firstBlock, lastBlock, provers);
    }

    /// The batch from firstBlock is the next to finalize, has the right size, and is committed.
    function _requireNextBatch(uint256 state, uint256 firstBlock, uint256 provers, uint256 proofs) private view {
        uint256 expected = _field(state, LAST_FINALIZED) + 1;
        uint256 last = _field(state, LAST_COMMITTED);
        if (firstBlock != expected) revert BatchOutOfOrder(firstBlock, expected);
        if (provers != batchSize || proofs != batchSize) revert WrongBatchSize(provers, proofs, batchSize);
        if (firstBlock + batchSize - 1 > last) revert BlockNotCommitted(last + 1);
    }

    /// @notice Whether (a, b, c) aggregates one valid proof of each block from firstBlock on,
    /// block i proven by provers[i], against the inputs L1 holds (`batchInputs`): what
    /// finalizeBatch requires, and what the staking contract slashes an aggregator for failing.
    function aggregateVerifies(
        uint256 firstBlock,
        address[] calldata provers,
        uint256[2][] calldata a,
        uint256[2][2][] calldata b,
        uint256[2] calldata c
    ) public view returns (bool) {
        uint256[4][] memory inputs = batchInputs(firstBlock, provers);
        return verifier.verifyBatch(a, b, c, inputs);
    }

    /// @notice Each block's public inputs [oldRoot, newRoot, dataHash, prover], from firstBlock
    /// on, block i proven by provers[i]: what an aggregate of those blocks is checked against.
    function batchInputs(uint256 firstBlock, address[] calldata provers)
        public
        view
        returns (uint256[4][] memory inputs)
    {
        uint256 last = _field(_state, LAST_COMMITTED);
        if (firstBlock == 0) revert BlockNotCommitted(0);
        if (firstBlock + provers.length - 1 > last) revert BlockNotCommitted(last + 1);
        inputs = new uint256[4][](provers.length);
        uint256 root = _roots(firstBlock - 1).newRoot;
        for (uint256 i = 0; i < provers.length; ++i) {
            (uint256 newRoot, uint256 dataHash) = _rootAndHash(firstBlock + i);
            inputs[i] = [root, newRoot, dataHash, uint256(uint160(provers[i]))];
            root = newRoot;
        }
    }

    // ---------------------------------------------------------------- randomness

    /// @notice Store block `blockNumber`'s randomness: the hash of its randomness block, or, once
    /// that has left BLOCKHASH's window, of the fallback block (`Randomness.source`). Anyone may
    /// call it; once recorded it never changes, and a second call returns it.
    function recordRandomness(uint256 blockNumber) public returns (bytes32 randomness_) {
        randomness_ = _randomness[blockNumber];
        if (randomness_ != bytes32(0)) return randomness_;
        (, uint256 target,) = drawBlocks(blockNumber);
        if (target == 0) revert BlockNeverCommitted(blockNumber);
        uint256 sourceBlock = Randomness.source(target);
        randomness_ = blockhash(sourceBlock);
        _randomness[blockNumber] = randomness_;
        emit RandomnessRecorded(blockNumber, randomness_, sourceBlock);
    }

    /// @notice `recordRandomness` of each of `blockNumbers`, in one transaction: a coordinator
    /// that follows many commits a second records each poll's in one, not one transaction (and
    /// its 21,000 gas of overhead) a block. It reverts as the first block that cannot be recorded
    /// would, so a caller passes only blocks whose randomness block L1 has passed.
    function recordRandomnessMany(uint256[] calldata blockNumbers) external {
        for (uint256 i = 0; i < blockNumbers.length; ++i) {
            recordRandomness(blockNumbers[i]);
        }
    }

    /// @notice The recorded randomness of `blockNumber`; zero until `recordRandomness`.
    function randomness(uint256 blockNumber) external view returns (bytes32) {
        return _randomness[blockNumber];
    }

    /// @notice What the first commit of `blockNumber` pinned: the L1 blocks of its roster and its
    /// randomness, and the commit's timestamp; (0, 0, 0) if never committed (and for genesis).
    function drawBlocks(uint256 blockNumber)
        public
        view
        returns (uint256 rosterBlock, uint256 randomnessBlock, uint256 drawTime)
    {
        uint256 state = _state;
        uint256 pinBlock;
        if (blockNumber == 0) return (0, 0, 0);
        if (blockNumber <= _field(state, LAST_FINALIZED)) {
            uint256 info = _final[blockNumber].info;
            pinBlock = info >> 160 & FIELD_MASK;
            drawTime = info >> 200 & FIELD_MASK;
        } else if (blockNumber <= _field(state, HIGH_WATER)) {
            // Not finalized, so still in the ring (a commit never overwrites such an entry).
            uint256 meta = _ringEntry(blockNumber).meta;
            pinBlock = meta >> META_PIN_BLOCK & FIELD_MASK;
            drawTime = meta >> META_PIN_TIME & FIELD_MASK;
        } else {
            return (0, 0, 0);
        }
        return (pinBlock - 1, pinBlock + Randomness.RANDOMNESS_DELAY, drawTime);
    }

    // ---------------------------------------------------------------- statements

    /// @notice What a block proof is about, as rollers sign it: keccak256(abi.encode(n, oldRoot,
    /// newRoot, dataHash)) of the block L1 holds now. A block reverted and committed anew with
    /// other contents has another statement.
    function statement(uint256 blockNumber) public view returns (bytes32) {
        _requireCommitted(blockNumber);
        (uint256 newRoot, uint256 dataHash) = _rootAndHash(blockNumber);
        return keccak256(abi.encode(blockNumber, _roots(blockNumber - 1).newRoot, newRoot, dataHash));
    }

    /// @notice What an aggregate of batch `batch` is about: keccak256(abi.encode(bytes32[]
    /// statements of its blocks)); reverts BlockNotCommitted until all of them are committed.
    function batchStatement(uint256 batch) external view returns (bytes32) {
        bytes32[] memory statements = new bytes32[](batchSize);
        uint256 first = batch * batchSize + 1;
        for (uint256 i = 0; i < batchSize; ++i) {
            statements[i] = statement(first + i);
        }
        return keccak256(abi.encode(statements));
    }

    // ---------------------------------------------------------------- views

    function lastCommitted() external view returns (uint256) {
        return _field(_state, LAST_COMMITTED);
    }

    function lastFinalized() external view returns (uint256) {
        return _field(_state, LAST_FINALIZED);
    }

    /// Block `blockNumber` as L1 holds it; all zeros (status None) if it is not committed.
    function blockInfo(uint256 blockNumber) external view returns (BlockInfo memory info) {
        BlockStatus status = blockStatus(blockNumber);
        if (status == BlockStatus.None) return info;
        info.oldRoot = blockNumber == 0 ? 0 : _roots(blockNumber - 1).newRoot;
        (info.newRoot, info.dataHash) = _rootAndHash(blockNumber);
        info.randomness = _randomness[blockNumber];
        if (_inRing(blockNumber)) (info.l1Block, info.timestamp) = committedAt(blockNumber);
        info.status = status;
        if (status == BlockStatus.Finalized) info.prover = address(uint160(_final[blockNumber].info));
        (info.rosterBlock, info.randomnessBlock,) = drawBlocks(blockNumber);
    }

    function blockStatus(uint256 blockNumber) public view returns (BlockStatus) {
        uint256 state = _state;
        if (blockNumber <= _field(state, LAST_FINALIZED)) return BlockStatus.Finalized;
        if (blockNumber <= _field(state, LAST_COMMITTED)) return BlockStatus.Committed;
        return BlockStatus.None;
    }

    /// @notice The L1 block and time of committed block `blockNumber`'s commit (genesis: the
    /// deployment's); reverts
    /// BlockForgotten once a later block took its ring entry (it was finalized before: read its
    /// BlockCommitted event then).
    function committedAt(uint256 blockNumber) public view returns (uint256 l1Block, uint256 timestamp) {
        if (blockNumber > _field(_state, LAST_COMMITTED)) revert BlockNotCommitted(blockNumber);
        if (blockNumber == 0) {
            uint256 info = _final[0].info;
            return (info >> 160 & FIELD_MASK, info >> 200 & FIELD_MASK);
        }
        if (!_inRing(blockNumber)) revert BlockForgotten(blockNumber);
        uint256 meta = _ringEntry(blockNumber).meta;
        return (meta >> META_L1_BLOCK & FIELD_MASK, meta >> META_TIMESTAMP & FIELD_MASK);
    }

    /// @notice The circuit's public inputs [oldRoot, newRoot, dataHash, prover] for block
    /// `blockNumber` proven by `prover`: what finalizeBatch checks its proof against.
    /// @dev A dynamic array: whoever checks a proof against it (the staking contract, through the
    /// block verifier) does not depend on the circuit's number of inputs.
    function publicInputs(uint256 blockNumber, address prover) external view returns (uint256[] memory inputs) {
        _requireCommitted(blockNumber);
        inputs = new uint256[](4);
        inputs[0] = _roots(blockNumber - 1).newRoot;
        (inputs[1], inputs[2]) = _rootAndHash(blockNumber);
        inputs[3] = uint256(uint160(prover));
    }

    // ---------------------------------------------------------------- storage helpers

    function _requireCommitted(uint256 blockNumber) private view {
        if (blockNumber == 0 || blockNumber > _field(_state, LAST_COMMITTED)) revert BlockNotCommitted(blockNumber);
    }

    /// Whether `blockNumber` (committed) still holds its ring entry: no block ringSize later was
    /// ever committed.
    function _inRing(uint256 blockNumber) private view returns (bool) {
        return blockNumber == 0 || blockNumber + ringSize > _field(_state, HIGH_WATER);
    }

    /// Where block `blockNumber`'s new root and data hash are: its permanent record once finalized,
    /// else its ring entry. For committed blocks only.
    function _roots(uint256 blockNumber) private view returns (RingEntry storage) {
        // FinalBlock and RingEntry start alike (newRoot, dataHash): read either as a RingEntry.
        if (blockNumber <= _field(_state, LAST_FINALIZED)) {
            FinalBlock storage finalBlock = _final[blockNumber];
            RingEntry storage asEntry;
            assembly ("memory-safe") {
                asEntry.slot := finalBlock.slot
            }
            return asEntry;
        }
        return _ringEntry(blockNumber);
    }

    /// Block `blockNumber`'s ring entry (whichever block holds it now).
    function _ringEntry(uint256 blockNumber) private view returns (RingEntry storage entry) {
        uint256 slot = RING_BASE + RING_ENTRY_SLOTS * (blockNumber % ringSize);
        assembly ("memory-safe") {
            entry.slot := slot
        }
    }

    function _rootAndHash(uint256 blockNumber) private view returns (uint256 newRoot, uint256 dataHash) {
        RingEntry storage entry = _roots(blockNumber);
        return (entry.newRoot, entry.dataHash);
    }

    function _field(uint256 state, uint256 offset) private pure returns (uint256) {
        return state >> offset & FIELD_MASK;
    }

    function _setField(uint256 state, uint256 offset, uint256 value) private pure returns (uint256) {
        return state & ~(FIELD_MASK << offset) | value << offset;
    }
}
