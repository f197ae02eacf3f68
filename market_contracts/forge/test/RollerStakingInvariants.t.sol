// SPDX-License-Identifier: MIT
pragma solidity 0.8.37;

import {ProverToken} from "provernet/ProverToken.sol";
import {CoordinatorRegistry} from "provernet/CoordinatorRegistry.sol";
import {IBlockVerifier, RollerStaking} from "provernet/RollerStaking.sol";
import {IBatchVerifier, Rollup} from "provernet/Rollup.sol";
import {BatchVerifierStub} from "provernet/test/BatchVerifierStub.sol";

/// The cheatcodes used here, at forge's fixed address (no forge-std: it is not on a registry we
/// can install from).
interface Vm {
    function warp(uint256 timestamp) external;
    function roll(uint256 number) external;
    function prank(address sender) external;
}

/// What `targetSelectors` answers, as forge reads it.
struct FuzzSelector {
    address addr;
    bytes4[] selectors;
}

Vm constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));
uint256 constant ONE_TOKEN = 1e18;
uint256 constant ACTORS = 5;
uint256 constant WALLET_TOKENS = 5_000;
// Snapshots whose exposure is tracked in a run, the first ones: a run of 100 calls takes about
// a dozen, one call in eight.
uint256 constant MAX_SNAPSHOTS = 64;

/// What forge's invariant fuzzer calls: RollerStaking's staking, unbonding, pause, pool and
/// snapshot operations by a few rollers, and the clock. Each call is made as one of the actors;
/// a call the contract refuses changes nothing here either. Beside the contract, the handler
/// keeps its own account of every token it moved in and out, of each roller's unbonding requests
/// and of the stake each roster snapshot counted.
contract Handler {
    ProverToken public immutable token;
    RollerStaking public immutable staking;
    address public immutable rollup;
    address[ACTORS] public actors;

    /// Tokens moved into the contract (stakes, pool funding) minus those moved out (withdrawals).
    uint256 public owed;
    /// Withdrawals that paid other than exactly the requests whose release time had come (one
    /// refused while some had come included).
    uint256 public wrongWithdrawals;
    /// Each actor's unbonding requests (amount, request time), oldest first, and the next one
    /// not yet withdrawn.
    mapping(address => uint256[2][]) internal requests;
    mapping(address => uint256) internal nextRequest;
    /// Each tracked snapshot's time and the active stake it counted, by actor.
    uint256[] public snapshotTimes;
    mapping(uint256 => mapping(address => uint256)) public counted;
    mapping(bytes4 => uint256) public calls;

    constructor(ProverToken token_, RollerStaking staking_, address rollup_) {
        token = token_;
        staking = staking_;
        rollup = rollup_;
        for (uint256 i = 0; i < ACTORS; ++i) {
            actors[i] = address(uint160(0xA11CE0 + i));
        }
    }

    function actorCount() external pure returns (uint256) {
        return ACTORS;
    }

    function snapshotCount() external view returns (uint256) {
        return snapshotTimes.length;
    }

    function _actor(uint256 who) internal view returns (address) {
        return actors[who % ACTORS];
    }

    /// Amounts around what matters: MIN_STAKE (100 tokens) and the wallets.
    function _amount(uint256 seed) internal pure returns (uint256) {
        uint256[8] memory picks = [uint256(0), 1, 99, 100, 101, 150, 400, 1_200];
        return seed % 2 == 0 ? picks[(seed / 2) % 8] * ONE_TOKEN : (seed / 2) % (2_000 * ONE_TOKEN);
    }

    function stake(uint256 who, uint256 seed) external {
        address a = _actor(who);
        uint256 amount = _amount(seed);
        VM.prank(a);
        try staking.stake(amount) {
            owed += amount;
        } catch {}
        calls[this.stake.selector]++;
    }

    function requestUnstake(uint256 who, uint256 seed) external {
        address a = _actor(who);
        uint256 amount = _amount(seed);
        VM.prank(a);
        try staking.requestUnstake(amount) {
            requests[a].push([amount, block.timestamp]);
        } catch {}
        calls[this.requestUnstake.selector]++;
    }

    function withdraw(uint256 who) external {
        address a = _actor(who);
        uint256 releasable = 0;
        uint256 i = nextRequest[a];
        uint256[2][] storage mine = requests[a];
        uint256 unbonding = staking.params().unbonding;
        while (i < mine.length && mine[i][1] + unbonding <= block.timestamp) {
            releasable += mine[i][0];
            ++i;
        }
        uint256 before = token.balanceOf(a);
        VM.prank(a);
        try staking.withdraw() returns (uint256) {
            uint256 paid = token.balanceOf(a) - before;
            if (paid != releasable) wrongWithdrawals++;
            owed -= paid;
            nextRequest[a] = i;
        } catch {
            if (releasable != 0) wrongWithdrawals++; // refused what was due
        }
        calls[this.withdraw.selector]++;
    }

    function pause(uint256 who) external {
        VM.prank(_actor(who));
        try staking.pause() {} catch {}
        calls[this.pause.selector]++;
    }

    function resume(uint256 who) external {
        VM.prank(_actor(who));
        try staking.resume() {} catch {}
        calls[this.resume.selector]++;
    }

    function fundRewards(uint256 who, uint256 seed) external {
        address a = _actor(who);
        uint256 amount = _amount(seed);
        VM.prank(a);
        try staking.fundRewards(rollup, amount) {
            owed += amount;
        } catch {}
        calls[this.fundRewards.selector]++;
    }

    /// A snapshot in a new L1 block (one per block), remembering what stake it counted.
    function snapshotRoster() external {
        VM.roll(block.number + 1);
        try staking.snapshotRoster() {
            if (snapshotTimes.length < MAX_SNAPSHOTS) {
                uint256 id = snapshotTimes.length;
                snapshotTimes.push(block.timestamp);
                for (uint256 i = 0; i < ACTORS; ++i) {
                    if (staking.weightOf(actors[i]) > 0) {
                        counted[id][actors[i]] = staking.rollerInfo(actors[i]).active;
                    }
                }
            }
        } catch {}
        calls[this.snapshotRoster.selector]++;
    }

    /// Time passes: around the unbonding period and the snapshot's exposure.
    function wait(uint256 seed) external {
        uint256[6] memory picks = [uint256(1), 300, 839, 840, 1_799, 1_800];
        VM.warp(block.timestamp + (seed % 2 == 0 ? picks[(seed / 2) % 6] : seed % 2_000));
        VM.roll(block.number + 1);
        calls[this.wait.selector]++;
    }
}

/// RollerStaking's invariants under forge's invariant fuzzer (run by
/// tests/market_contracts/test_forge_invariants.py; docs/reliability.md, "Contract invariants").
contract RollerStakingInvariants {
    ProverToken token;
    RollerStaking staking;
    Handler handler;

    function setUp() public {
        token = new ProverToken(address(this));
        CoordinatorRegistry registry = new CoordinatorRegistry(address(this));
        // The devnet parameters (market_contracts.rules.MarketParams.devnet).
        staking = new RollerStaking(token, registry, RollerStaking.Params({
            minStake: 100 * ONE_TOKEN, repMax: 10_000, repInit: 5_000, repMin: 500,
            alphaBps: 1_000, betaBps: 1_000, gammaBps: 2_500, slashBps: 1_000, reporterBps: 1_000,
            unbonding: 1_800, m: 2, t: 30, lateWindow: 60, k: 4, tAgg: 30,
            rBlock: 10 * ONE_TOKEN, rAgg: 5 * ONE_TOKEN, rewardMode: RollerStaking.RewardMode.Split,
            rOpen: 3, slashWindow: 60, snapshotMaxAge: 300
        }));
        // A real Rollup whose pool is funded; it commits nothing (this contract stands in for
        // its sequencer and bridge).
        BatchVerifierStub stub = new BatchVerifierStub();
        Rollup rollup = new Rollup(Rollup.Config({
            sequencer: address(this), verifier: IBatchVerifier(address(stub)), bridge: address(this),
            batchSize: 2, maxTransfers: 2, entries: 1, forceDelay: 1 days, escapeDelay: 7 days,
            ringSize: 4
        }), 1, "");
        staking.addRollup(rollup, IBlockVerifier(address(stub)));
        handler = new Handler(token, staking, address(rollup));
        for (uint256 i = 0; i < ACTORS; ++i) {
            address a = handler.actors(i);
            token.mint(a, WALLET_TOKENS * ONE_TOKEN);
            VM.prank(a);
            token.approve(address(staking), type(uint256).max);
        }
    }

    /// Forge fuzzes the handler alone (not the contracts it deployed here)...
    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// ... and its operations alone (not its getters, whose indices it would send out of range).
    function targetSelectors() public view returns (FuzzSelector[] memory targets) {
        bytes4[] memory selectors = new bytes4[](8);
        selectors[0] = Handler.stake.selector;
        selectors[1] = Handler.requestUnstake.selector;
        selectors[2] = Handler.withdraw.selector;
        selectors[3] = Handler.pause.selector;
        selectors[4] = Handler.resume.selector;
        selectors[5] = Handler.fundRewards.selector;
        selectors[6] = Handler.snapshotRoster.selector;
        selectors[7] = Handler.wait.selector;
        targets = new FuzzSelector[](1);
        targets[0] = FuzzSelector(address(handler), selectors);
    }

    /// Tokens held equal every balance owed: the contract's balance is what the handler moved in
    /// and out, is the sum of its totals, and each total is the sum of its parts.
    function invariant_tokens_held_equal_every_balance_owed() public view {
        uint256 held = token.balanceOf(address(staking));
        require(held == handler.owed(), "held != moved in - moved out");
        uint256 active;
        uint256 unbonding;
        uint256 claimable;
        for (uint256 i = 0; i < ACTORS; ++i) {
            RollerStaking.RollerView memory info = staking.rollerInfo(handler.actors(i));
            active += info.active;
            unbonding += info.unbonding;
            claimable += info.claimable;
        }
        require(active == staking.totalActive(), "totalActive != sum of active");
        require(unbonding == staking.totalUnbonding(), "totalUnbonding != sum of unbonding");
        require(claimable == staking.totalClaimable(), "totalClaimable != sum of claimable");
        require(staking.rewardPool(handler.rollup()) == staking.totalRewardPool(), "pool != total");
        require(held == active + unbonding + claimable + staking.totalRewardPool(), "held != owed");
    }

    /// No stake leaves before its slash window closes: nothing is withdrawn before its release
    /// time, and the stake a snapshot counted stays in the contract until exposure(params) after
    /// the snapshot.
    function invariant_no_stake_leaves_before_its_slash_window_closes() public view {
        require(handler.wrongWithdrawals() == 0, "a withdrawal paid other than what was released");
        uint256 exposure = staking.exposure(staking.params());
        for (uint256 id = 0; id < handler.snapshotCount(); ++id) {
            if (block.timestamp >= handler.snapshotTimes(id) + exposure) continue;
            for (uint256 i = 0; i < ACTORS; ++i) {
                address a = handler.actors(i);
                RollerStaking.RollerView memory info = staking.rollerInfo(a);
                require(info.active + info.unbonding >= handler.counted(id, a), "exposed stake left");
            }
        }
    }

    /// The handler's operations succeed where the contract allows them (the fuzzer's runs would
    /// prove nothing if every call were refused): stake, unbond, a refused early withdrawal, the
    /// withdrawal at the release time, a snapshot and a funded pool.
    function test_the_handlers_operations_move_tokens() public {
        handler.stake(0, 2 * 3); // picks[3]: 100 tokens
        handler.stake(1, 2 * 6); // 400 tokens
        require(handler.owed() == 500 * ONE_TOKEN, "staked");
        handler.snapshotRoster();
        require(handler.snapshotCount() == 1 && handler.counted(0, handler.actors(1)) == 400 * ONE_TOKEN,
                "snapshot counted");
        handler.requestUnstake(1, 2 * 6);
        handler.wait(2 * 4); // picks[4]: 1 799 s
        handler.withdraw(1); // refused: not yet released
        require(handler.owed() == 500 * ONE_TOKEN, "withdrawn early");
        handler.wait(0); // picks[0]: 1 s
        handler.withdraw(1);
        require(handler.owed() == 100 * ONE_TOKEN && handler.wrongWithdrawals() == 0, "withdrawn");
        handler.fundRewards(2, 2 * 5); // 150 tokens
        require(handler.owed() == 250 * ONE_TOKEN, "funded");
        invariant_tokens_held_equal_every_balance_owed();
        invariant_no_stake_leaves_before_its_slash_window_closes();
    }
}
