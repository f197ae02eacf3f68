// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Randomness} from "./Randomness.sol";

/// Poseidon with three inputs (width 4), as circomlib computes it: the contract that circomlibjs's
/// `poseidon_gencontract` generates (`artifacts/PoseidonT4.json`).
interface IPoseidon3 {
    function poseidon(uint256[3] calldata input) external pure returns (uint256);
}

/// The batch verifier that `zkp.solidity` generates from the block circuit's verification key.
interface IBatchVerifier {
    function verifyBatch(
        uint256[2][] calldata a,
        uint256[2][2][] calldata b,
        uint256[2] calldata c,
        uint256[4][] calldata inputs
    ) external view returns (bool);
}

/// @title Rollup: the L1 record of the L2's blocks.
/// @notice The sequencer commits each block's state transition (old root, new root) with the data it
/// posts; the contract hashes that data itself, so a proof can only be for the data that is on L1.
/// Every `batchSize` committed blocks are finalized together with one aggregated Groth16 proof
/// (docs/architecture.md, "Proofs"), each block proven by the prover whose address its proof is
/// bound to. The sequencer may drop blocks that are not finalized yet, to replace them.
///
/// L2 block 0 is the genesis state: Finalized at deployment. Blocks count from 1, and block n's old
/// root is always block n-1's new root (`commitBlock` refuses anything else), so it is not stored.
///
/// The first commit of block number n pins what the market draws n's provers from (market-spec.md,
/// "Randomness and the roster of a block"): the roster is the last roster snapshot taken before
/// the commit's L1 block (and no older than SNAPSHOT_MAX_AGE at the commit's time), the randomness
/// is the hash of the block after it. All stay pinned through reverts, so neither committing again
/// nor choosing when to commit steers a draw.
contract Rollup {
    enum BlockStatus {
        None,
        Committed,
        Finalized
    }

    /// What a committed block keeps. The last slot packs the L1 block and time with the status and
    /// the prover, so that finalizing a block writes one slot that commitBlock already paid for.
    struct StoredBlock {
        uint256 newRoot;
        uint256 dataHash;
        uint40 l1Block;
        uint40 timestamp;
        BlockStatus status;
        address prover;
    }

    struct BlockInfo {
        uint256 oldRoot;
        uint256 newRoot;
        uint256 dataHash;
        bytes32 randomness;
        uint256 l1Block;
        uint256 timestamp;
        BlockStatus status;
        /// The prover its finalizing batch named; zero until then.
        address prover;
        uint256 rosterBlock;
        uint256 randomnessBlock;
    }

    /// What the first commit of a block number pins for its draw; never cleared: the L1 blocks
    /// of its roster and randomness, and the commit's time (which bounds its roster snapshot's age).
    struct DrawBlocks {
        uint64 rosterBlock;
        uint64 randomnessBlock;
        uint64 drawTime;
    }

    /// BN254's scalar field modulus: roots and posted elements are field elements of the circuit.
    uint256 internal constant R = 21888242871839275222246405745257275088548364400416034343698204186575808495617;
    /// Posted field elements per transfer: the packed word and the recipient's address.
    uint256 internal constant ELEMENTS_PER_TRANSFER = 2;

    address public immutable sequencer;
    IBatchVerifier public immutable verifier;
    IPoseidon3 public immutable poseidon;
    uint256 public immutable batchSize;
    uint256 public immutable maxTransfers;

    uint256 public lastCommitted;
    uint256 public lastFinalized;
    mapping(uint256 => StoredBlock) private _blocks;
    mapping(uint256 => DrawBlocks) private _drawBlocks;
    mapping(uint256 => bytes32) private _randomness;

    event BlockCommitted(
        uint256 indexed blockNumber,
        uint256 oldRoot,
        uint256 newRoot,
        uint256 dataHash,
        uint256 l1Block,
        uint256 timestamp,
        uint256 rosterBlock,
        uint256 randomnessBlock
    );
    event RandomnessRecorded(uint256 indexed blockNumber, bytes32 randomness, uint256 sourceBlock);
    event BatchFinalized(uint256 indexed firstBlock, uint256 lastBlock, address[] provers);
    event BlocksReverted(uint256 indexed fromBlock, uint256 toBlock);

    error InvalidParams(string reason);
    error NotSequencer(address caller);
    error WrongOldRoot(uint256 given, uint256 expected);
    error NotAFieldElement(uint256 value);
    error OddDataLength(uint256 length);
    error TooManyTransfers(uint256 transfers, uint256 maxTransfers);
    error BatchOutOfOrder(uint256 firstBlock, uint256 expected);
    error WrongBatchSize(uint256 provers, uint256 proofs, uint256 batchSize);
    error BlockNotCommitted(uint256 blockNumber);
    error InvalidBatchProof(uint256 firstBlock);
    error CannotRevertFinalized(uint256 fromBlock, uint256 lastFinalized);
    error NothingToRevert(uint256 fromBlock, uint256 lastCommitted);
    error BlockNeverCommitted(uint256 blockNumber);

    modifier onlySequencer() {
        if (msg.sender != sequencer) revert NotSequencer(msg.sender);
        _;
    }

    constructor(
        address sequencer_,
        IBatchVerifier verifier_,
        IPoseidon3 poseidon_,
        uint256 genesisRoot,
        uint256 batchSize_,
        uint256 maxTransfers_
    ) {
        if (sequencer_ == address(0)) revert InvalidParams("sequencer is the zero address");
        if (address(verifier_).code.length == 0) revert InvalidParams("verifier has no code");
        if (address(poseidon_).code.length == 0) revert InvalidParams("poseidon has no code");
        if (genesisRoot >= R) revert InvalidParams("genesisRoot is not a field element");
        if (batchSize_ == 0) revert InvalidParams("batchSize must be positive");
        if (maxTransfers_ == 0) revert InvalidParams("maxTransfers must be positive");
        sequencer = sequencer_;
        verifier = verifier_;
        poseidon = poseidon_;
        batchSize = batchSize_;
        maxTransfers = maxTransfers_;
        StoredBlock storage genesis = _blocks[0];
        genesis.newRoot = genesisRoot;
        genesis.l1Block = SafeCast.toUint40(block.number);
        genesis.timestamp = SafeCast.toUint40(block.timestamp);
        genesis.status = BlockStatus.Finalized;
    }

    // ---------------------------------------------------------------- sequencer

    /// @notice Commit the next L2 block: the transition oldRoot -> newRoot by the transfers whose
    /// posted elements are `data` (two per transfer, docs/rollup.md "Packing").
    /// @dev The data reaches L1 as this call's calldata, which is what makes the state rebuildable;
    /// the event carries only its hash.
    function commitBlock(uint256 oldRoot, uint256 newRoot, uint256[] calldata data)
        external
        onlySequencer
        returns (uint256 blockNumber)
    {
        uint256 previous = lastCommitted;
        uint256 expected = _blocks[previous].newRoot;
        if (oldRoot != expected) revert WrongOldRoot(oldRoot, expected);
        if (newRoot >= R) revert NotAFieldElement(newRoot);
        uint256 dataHash = _dataHash(data);

        blockNumber = previous + 1;
        DrawBlocks storage draw = _drawBlocks[blockNumber];
        if (draw.randomnessBlock == 0) {
            // First commit of this number only: a re-commit after a revert draws from the same
            // roster and randomness, so the sequencer cannot re-roll a draw by re-committing.
            draw.rosterBlock = SafeCast.toUint64(block.number - 1);
            draw.randomnessBlock = SafeCast.toUint64(block.number + Randomness.RANDOMNESS_DELAY);
            draw.drawTime = SafeCast.toUint64(block.timestamp);
        }
        lastCommitted = blockNumber;
        StoredBlock storage b = _blocks[blockNumber];
        b.newRoot = newRoot;
        b.dataHash = dataHash;
        b.l1Block = SafeCast.toUint40(block.number);
        b.timestamp = SafeCast.toUint40(block.timestamp);
        b.status = BlockStatus.Committed;
        emit BlockCommitted(
            blockNumber, oldRoot, newRoot, dataHash, block.number, block.timestamp, draw.rosterBlock, draw.randomnessBlock
        );
    }

    /// @notice Drop the committed blocks fromBlock..lastCommitted, none of them finalized; the next
    /// commit is block `fromBlock` again, from the new root of block fromBlock - 1.
    /// @dev Costs a storage reset per dropped block: to drop very many, call it several times,
    /// from the top down. The pinned draw blocks and recorded randomness are kept.
    function revertBlocks(uint256 fromBlock) external onlySequencer {
        uint256 last = lastCommitted;
        if (fromBlock <= lastFinalized) revert CannotRevertFinalized(fromBlock, lastFinalized);
        if (fromBlock > last) revert NothingToRevert(fromBlock, last);
        for (uint256 n = fromBlock; n <= last; ++n) {
            delete _blocks[n];
        }
        lastCommitted = fromBlock - 1;
        emit BlocksReverted(fromBlock, last);
    }

    // ---------------------------------------------------------------- finalization

    /// @notice Finalize the next batch, blocks firstBlock .. firstBlock + batchSize - 1, with the
    /// aggregate (a, b, c) of one proof per block, proof i made by (and bound to) `provers[i]`.
    /// @dev Anyone may call it: the proof is what matters. The public inputs of block n are built
    /// here from what commitBlock stored, so a proof is only ever checked against L1's record.
    function finalizeBatch(
        uint256 firstBlock,
        address[] calldata provers,
        uint256[2][] calldata a,
        uint256[2][2][] calldata b,
        uint256[2] calldata c
    ) external {
        _requireNextBatch(firstBlock, provers.length, a.length);
        if (!aggregateVerifies(firstBlock, provers, a, b, c)) {
            revert InvalidBatchProof(firstBlock);
        }
        for (uint256 i = 0; i < provers.length; ++i) {
            StoredBlock storage stored = _blocks[firstBlock + i];
            stored.status = BlockStatus.Finalized;
            // Kept for settlement and slashing: who proved the block that L1 accepted.
            stored.prover = provers[i];
        }
        uint256 lastBlock = firstBlock + provers.length - 1;
        lastFinalized = lastBlock;
        emit BatchFinalized(firstBlock, lastBlock, provers);
    }

    /// The batch from firstBlock is the next to finalize, has the right size, and is committed.
    function _requireNextBatch(uint256 firstBlock, uint256 provers, uint256 proofs) private view {
        uint256 expected = lastFinalized + 1;
        if (firstBlock != expected) revert BatchOutOfOrder(firstBlock, expected);
        if (provers != batchSize || proofs != batchSize) revert WrongBatchSize(provers, proofs, batchSize);
        if (firstBlock + batchSize - 1 > lastCommitted) revert BlockNotCommitted(lastCommitted + 1);
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
        if (firstBlock == 0) revert BlockNotCommitted(0);
        if (firstBlock + provers.length - 1 > lastCommitted) revert BlockNotCommitted(lastCommitted + 1);
        inputs = new uint256[4][](provers.length);
        uint256 root = _blocks[firstBlock - 1].newRoot;
        for (uint256 i = 0; i < provers.length; ++i) {
            StoredBlock storage stored = _blocks[firstBlock + i];
            inputs[i] = [root, stored.newRoot, stored.dataHash, uint256(uint160(provers[i]))];
            root = stored.newRoot;
        }
    }

    // ---------------------------------------------------------------- randomness

    /// @notice Store block `blockNumber`'s randomness: the hash of its randomness block, or, once
    /// that has left BLOCKHASH's window, of the fallback block (`Randomness.source`). Anyone may
    /// call it; once recorded it never changes, and a second call returns it.
    function recordRandomness(uint256 blockNumber) public returns (bytes32 randomness_) {
        randomness_ = _randomness[blockNumber];
        if (randomness_ != bytes32(0)) return randomness_;
        uint256 target = _drawBlocks[blockNumber].randomnessBlock;
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
    /// randomness, and the commit's timestamp; (0, 0, 0) if never committed.
    function drawBlocks(uint256 blockNumber)
        external
        view
        returns (uint256 rosterBlock, uint256 randomnessBlock, uint256 drawTime)
    {
        DrawBlocks storage draw = _drawBlocks[blockNumber];
        return (draw.rosterBlock, draw.randomnessBlock, draw.drawTime);
    }

    // ---------------------------------------------------------------- statements

    /// @notice What a block proof is about, as rollers sign it: keccak256(abi.encode(n, oldRoot,
    /// newRoot, dataHash)) of the block L1 holds now. A block reverted and committed anew with
    /// other contents has another statement.
    function statement(uint256 blockNumber) public view returns (bytes32) {
        if (blockNumber == 0 || blockNumber > lastCommitted) revert BlockNotCommitted(blockNumber);
        StoredBlock storage stored = _blocks[blockNumber];
        return keccak256(
            abi.encode(blockNumber, _blocks[blockNumber - 1].newRoot, stored.newRoot, stored.dataHash)
        );
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

    function blockInfo(uint256 blockNumber) external view returns (BlockInfo memory info) {
        StoredBlock storage stored = _blocks[blockNumber];
        if (stored.status == BlockStatus.None) return info;
        info.oldRoot = blockNumber == 0 ? 0 : _blocks[blockNumber - 1].newRoot;
        info.newRoot = stored.newRoot;
        info.dataHash = stored.dataHash;
        info.randomness = _randomness[blockNumber];
        info.l1Block = stored.l1Block;
        info.timestamp = stored.timestamp;
        info.status = stored.status;
        info.prover = stored.prover;
        info.rosterBlock = _drawBlocks[blockNumber].rosterBlock;
        info.randomnessBlock = _drawBlocks[blockNumber].randomnessBlock;
    }

    function blockStatus(uint256 blockNumber) external view returns (BlockStatus) {
        return _blocks[blockNumber].status;
    }

    /// @notice The circuit's public inputs [oldRoot, newRoot, dataHash, prover] for block
    /// `blockNumber` proven by `prover`: what finalizeBatch checks its proof against.
    /// @dev A dynamic array: whoever checks a proof against it (the staking contract, through the
    /// block verifier) does not depend on the circuit's number of inputs.
    function publicInputs(uint256 blockNumber, address prover) external view returns (uint256[] memory inputs) {
        if (blockNumber == 0 || blockNumber > lastCommitted) revert BlockNotCommitted(blockNumber);
        StoredBlock storage stored = _blocks[blockNumber];
        inputs = new uint256[](4);
        inputs[0] = _blocks[blockNumber - 1].newRoot;
        inputs[1] = stored.newRoot;
        inputs[2] = stored.dataHash;
        inputs[3] = uint256(uint160(prover));
    }

    // ---------------------------------------------------------------- data commitment

    /// h_0 = 0, h_{k+1} = Poseidon(h_k, e_2k, e_2k+1): one call per transfer (docs/rollup.md,
    /// "dataHash"); 0 for a block without transfers.
    function _dataHash(uint256[] calldata data) private view returns (uint256 h) {
        if (data.length % ELEMENTS_PER_TRANSFER != 0) revert OddDataLength(data.length);
        uint256 transfers = data.length / ELEMENTS_PER_TRANSFER;
        if (transfers > maxTransfers) revert TooManyTransfers(transfers, maxTransfers);
        for (uint256 i = 0; i < data.length; i += ELEMENTS_PER_TRANSFER) {
            // Poseidon reduces its inputs mod R: an element >= R would hash like a different one.
            if (data[i] >= R) revert NotAFieldElement(data[i]);
            if (data[i + 1] >= R) revert NotAFieldElement(data[i + 1]);
            h = poseidon.poseidon([h, data[i], data[i + 1]]);
        }
    }
}
