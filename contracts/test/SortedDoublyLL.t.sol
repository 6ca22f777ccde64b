// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./lib/Vm.sol";
import {SortedDoublyLL} from "../src/libraries/SortedDoublyLL.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

contract SortedListHarness {
    using SortedDoublyLL for SortedDoublyLL.Data;

    SortedDoublyLL.Data internal list;

    function setMaxSize(uint256 n) external {
        list.setMaxSize(n);
    }

    function insert(address id, uint256 _key, address _prev, address _next) external {
        list.insert(id, _key, _prev, _next);
    }

    function remove(address id) external {
        list.remove(id);
    }

    function updateKey(address id, uint256 _key, address _prev, address _next) external {
        list.updateKey(id, _key, _prev, _next);
    }

    function contains(address id) external view returns (bool) {
        return list.contains(id);
    }

    function size() external view returns (uint256) {
        return list.getSize();
    }

    function maxSize() external view returns (uint256) {
        return list.getMaxSize();
    }

    function isFull() external view returns (bool) {
        return list.isFull();
    }

    function isEmpty() external view returns (bool) {
        return list.isEmpty();
    }

    function key(address id) external view returns (uint256) {
        return list.getKey(id);
    }

    function first() external view returns (address) {
        return list.getFirst();
    }

    function last() external view returns (address) {
        return list.getLast();
    }

    function next(address id) external view returns (address) {
        return list.getNext(id);
    }

    function prev(address id) external view returns (address) {
        return list.getPrev(id);
    }
}

contract SortedDoublyLLTest is TestBase {
    SortedListHarness internal list;
    address internal constant A = address(0xA);
    address internal constant B = address(0xB);
    address internal constant C = address(0xC);
    address internal constant D = address(0xD);
    address internal constant E = address(0xE);

    function setUp() public {
        list = new SortedListHarness();
        list.setMaxSize(5);
    }

    function order() internal view returns (address[] memory ids) {
        ids = new address[](list.size());
        address cur = list.first();
        for (uint256 i = 0; i < ids.length; i++) {
            ids[i] = cur;
            cur = list.next(cur);
        }
        vm.assertEq(cur, address(0), "list ends after size nodes");
    }

    function assertOrder(address[] memory want) internal view {
        address[] memory got = order();
        vm.assertEq(got.length, want.length, "size");
        for (uint256 i = 0; i < want.length; i++) {
            vm.assertEq(got[i], want[i], "position");
        }
        // Backward links mirror the forward ones.
        address cur = list.last();
        for (uint256 i = want.length; i > 0; i--) {
            vm.assertEq(cur, want[i - 1], "backward");
            cur = list.prev(cur);
        }
    }

    function arr(address a) internal pure returns (address[] memory r) {
        r = new address[](1);
        r[0] = a;
    }

    function arr(address a, address b) internal pure returns (address[] memory r) {
        r = new address[](2);
        (r[0], r[1]) = (a, b);
    }

    function arr(address a, address b, address c) internal pure returns (address[] memory r) {
        r = new address[](3);
        (r[0], r[1], r[2]) = (a, b, c);
    }

    function arr(address a, address b, address c, address d) internal pure returns (address[] memory r) {
        r = new address[](4);
        (r[0], r[1], r[2], r[3]) = (a, b, c, d);
    }

    function arr(address a, address b, address c, address d, address e) internal pure returns (address[] memory r) {
        r = new address[](5);
        (r[0], r[1], r[2], r[3], r[4]) = (a, b, c, d, e);
    }

    function test_InsertKeepsDescendingOrder() public {
        vm.assertTrue(list.isEmpty(), "empty");
        list.insert(A, 10, address(0), address(0));
        list.insert(B, 30, address(0), address(0));
        list.insert(C, 20, address(0), address(0));
        list.insert(D, 5, address(0), address(0));
        assertOrder(arr(B, C, A, D));
        vm.assertEq(list.first(), B, "head");
        vm.assertEq(list.last(), D, "tail");
        vm.assertEq(list.key(C), 20, "key");
        vm.assertTrue(list.contains(C), "contains");
        vm.assertFalse(list.contains(E), "not contained");
    }

    function test_InsertWithValidHints() public {
        list.insert(A, 30, address(0), address(0));
        list.insert(B, 10, A, address(0)); // after the tail
        list.insert(C, 20, A, B); // middle
        list.insert(D, 40, address(0), A); // before the head
        assertOrder(arr(D, A, C, B));
    }

    function test_InsertWithStaleHintsStillSorts() public {
        list.insert(A, 30, address(0), address(0));
        list.insert(B, 20, address(0), address(0));
        list.insert(C, 10, address(0), address(0));
        // prev hint with a smaller key and next hint with a larger key are both unusable.
        list.insert(D, 25, C, A);
        assertOrder(arr(A, D, B, C));
        // A usable next hint: ascend from it.
        list.insert(E, 15, address(0), C);
        assertOrder(arr(A, D, B, E, C));
    }

    function test_TiesGoAheadWithoutHintAndBehindTailHint() public {
        list.insert(A, 10, address(0), address(0));
        list.insert(B, 10, address(0), address(0)); // no hint: descends, ahead of A
        assertOrder(arr(B, A));
        list.insert(C, 10, address(0), A); // next hint at the equal-keyed tail: goes behind it
        assertOrder(arr(B, A, C));
    }

    function test_RemoveHeadMiddleTail() public {
        list.insert(A, 30, address(0), address(0));
        list.insert(B, 20, address(0), address(0));
        list.insert(C, 10, address(0), address(0));
        list.insert(D, 5, address(0), address(0));
        list.remove(B);
        assertOrder(arr(A, C, D));
        list.remove(A);
        assertOrder(arr(C, D));
        list.remove(D);
        assertOrder(arr(C));
        list.remove(C);
        vm.assertTrue(list.isEmpty(), "empty");
        vm.assertEq(list.first(), address(0), "no head");
        vm.assertEq(list.last(), address(0), "no tail");
        vm.assertEq(list.key(C), 0, "node cleared");
    }

    function test_UpdateKeyInPlaceOrMoving() public {
        list.insert(A, 30, address(0), address(0));
        list.insert(B, 20, address(0), address(0));
        list.insert(C, 10, address(0), address(0));
        list.updateKey(B, 25, address(0), address(0)); // still between A and C
        assertOrder(arr(A, B, C));
        vm.assertEq(list.key(B), 25, "re-keyed");
        list.updateKey(C, 40, address(0), address(0)); // to the head
        assertOrder(arr(C, A, B));
        list.updateKey(C, 1, B, address(0)); // to the tail, with a hint
        assertOrder(arr(A, B, C));
        list.updateKey(A, 25, address(0), address(0)); // ties B: re-inserted ahead of it
        assertOrder(arr(A, B, C));
        list.updateKey(B, 0, address(0), address(0)); // zero removes
        assertOrder(arr(A, C));
        vm.assertEq(list.size(), 2, "size");
    }

    function test_Reverts() public {
        vm.expectRevert(bytes("node id is null"));
        list.insert(address(0), 1, address(0), address(0));
        vm.expectRevert(bytes("key is zero"));
        list.insert(A, 0, address(0), address(0));
        list.insert(A, 1, address(0), address(0));
        vm.expectRevert(bytes("node already in list"));
        list.insert(A, 2, address(0), address(0));
        vm.expectRevert(bytes("node not in list"));
        list.remove(B);
        vm.expectRevert(bytes("node not in list"));
        list.updateKey(B, 1, address(0), address(0));
        vm.expectRevert(bytes("new max size must be greater than old max size"));
        list.setMaxSize(5);
        vm.expectRevert(abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 96, uint256(1) << 96));
        list.insert(B, uint256(1) << 96, address(0), address(0));
        list.insert(B, 2, address(0), address(0));
        list.insert(C, 3, address(0), address(0));
        list.insert(D, 4, address(0), address(0));
        list.insert(E, 5, address(0), address(0));
        vm.assertTrue(list.isFull(), "full");
        vm.expectRevert(bytes("list is full"));
        list.insert(address(0xF), 6, address(0), address(0));
        list.setMaxSize(6);
        vm.assertEq(list.maxSize(), 6, "grown");
        list.insert(address(0xF), 6, address(0), address(0));
    }

    /// forge-config: default.fuzz.runs = 128
    /// Random inserts, removes and re-keys with random hints against a plain model: the
    /// list is always sorted, doubly linked, and holds exactly the model's nodes and keys.
    function testFuzz_MatchesModel(uint256 seed) public {
        SortedListHarness l = new SortedListHarness();
        l.setMaxSize(12);
        uint256[12] memory keys; // model: node i+1 has keys[i] (0 = absent)
        for (uint256 step = 0; step < 30; step++) {
            seed = uint256(keccak256(abi.encode(seed, step)));
            uint256 i = seed % 12;
            // forge-lint: disable-next-line(unsafe-typecast) -- i < 12
            address id = address(uint160(i + 1));
            uint256 k = 1 + (seed >> 8) % 20; // small keys: plenty of ties
            address prevHint = address(uint160((seed >> 16) % 13));
            address nextHint = address(uint160((seed >> 24) % 13));
            uint256 op = (seed >> 32) % 3;
            if (keys[i] == 0) {
                l.insert(id, k, prevHint, nextHint);
                keys[i] = k;
            } else if (op == 0) {
                l.remove(id);
                keys[i] = 0;
            } else {
                uint256 newKey = op == 1 ? k : 0;
                l.updateKey(id, newKey, prevHint, nextHint);
                keys[i] = newKey;
            }
            checkAgainstModel(l, keys);
        }
    }

    function checkAgainstModel(SortedListHarness l, uint256[12] memory keys) internal view {
        uint256 n;
        for (uint256 i = 0; i < 12; i++) {
            if (keys[i] > 0) n++;
            // forge-lint: disable-next-line(unsafe-typecast) -- i < 12
            vm.assertEq(l.key(address(uint160(i + 1))), keys[i], "key");
        }
        vm.assertEq(l.size(), n, "size");
        address cur = l.first();
        address before;
        uint256 prevKey = type(uint256).max;
        for (uint256 j = 0; j < n; j++) {
            vm.assertTrue(cur != address(0), "list too short");
            uint256 k = l.key(cur);
            vm.assertLe(k, prevKey, "descending");
            vm.assertEq(l.prev(cur), before, "back link");
            prevKey = k;
            before = cur;
            cur = l.next(cur);
        }
        vm.assertEq(cur, address(0), "list too long");
        vm.assertEq(l.last(), before, "tail");
    }
}
