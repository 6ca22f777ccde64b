// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

/// @title SortedDoublyLL
/// @notice A doubly linked list of addresses sorted by key, largest first, with a maximum
/// size: the transcoder pool. Callers pass the expected neighbours of the new position as
/// hints; a valid hint makes an insert O(1), a stale or missing one costs a walk (down from
/// the head, from a still-valid `prev` hint, or up from a still-valid `next` hint). The
/// resulting order never depends on the hints, except where equal keys end up relative to
/// each other.
/// @dev Internal functions only, so the code is inlined into the user and needs no linking.
/// A node's key and its `next` pointer share one slot, so a walk costs one cold read per
/// node; keys are therefore stored as uint96 (up to 7.9e28 wei, ~2400x the LPT supply)
/// and a larger key reverts with SafeCast's error.
library SortedDoublyLL {
    struct Node {
        uint96 key; // 0 means "not in the list"
        address nextId; // towards the tail (smaller keys)
        address prevId; // towards the head (larger keys)
    }

    struct Data {
        address head;
        uint96 size;
        address tail;
        uint96 maxSize;
        mapping(address => Node) nodes;
    }

    function setMaxSize(Data storage self, uint256 _size) internal {
        require(_size > self.maxSize, "new max size must be greater than old max size");
        self.maxSize = SafeCast.toUint96(_size);
    }

    function insert(Data storage self, address _id, uint256 _key, address _prevId, address _nextId) internal {
        require(!isFull(self), "list is full");
        require(!contains(self, _id), "node already in list");
        require(_id != address(0), "node id is null");
        require(_key > 0, "key is zero");
        uint96 key = SafeCast.toUint96(_key);

        (address prevId, address nextId) = (_prevId, _nextId);
        if (!_validInsertPosition(self, key, prevId, nextId)) {
            (prevId, nextId) = _findInsertPosition(self, key, prevId, nextId);
        }
        _link(self, _id, key, prevId, nextId);
        self.size += 1;
    }

    function remove(Data storage self, address _id) internal {
        require(contains(self, _id), "node not in list");
        _unlink(self, _id);
        delete self.nodes[_id];
        self.size -= 1;
    }

    /// @notice Re-keys a node; a new key of 0 removes it.
    /// @dev When the node still sorts strictly between its neighbours its position is the
    /// only valid one, so the key is rewritten in place: the same result as remove+insert,
    /// without the pointer writes or a walk.
    function updateKey(Data storage self, address _id, uint256 _newKey, address _prevId, address _nextId) internal {
        require(contains(self, _id), "node not in list");
        if (_newKey > 0) {
            Node storage node = self.nodes[_id];
            address prevId = node.prevId;
            address nextId = node.nextId;
            if (
                (prevId == address(0) || self.nodes[prevId].key > _newKey)
                    && (nextId == address(0) || self.nodes[nextId].key < _newKey)
            ) {
                node.key = SafeCast.toUint96(_newKey);
                return;
            }
        }
        remove(self, _id);
        if (_newKey > 0) {
            insert(self, _id, _newKey, _prevId, _nextId);
        }
    }

    function contains(Data storage self, address _id) internal view returns (bool) {
        return self.nodes[_id].key > 0;
    }

    function isFull(Data storage self) internal view returns (bool) {
        return self.size == self.maxSize;
    }

    function isEmpty(Data storage self) internal view returns (bool) {
        return self.size == 0;
    }

    function getSize(Data storage self) internal view returns (uint256) {
        return self.size;
    }

    function getMaxSize(Data storage self) internal view returns (uint256) {
        return self.maxSize;
    }

    function getKey(Data storage self, address _id) internal view returns (uint256) {
        return self.nodes[_id].key;
    }

    function getFirst(Data storage self) internal view returns (address) {
        return self.head;
    }

    function getLast(Data storage self) internal view returns (address) {
        return self.tail;
    }

    function getNext(Data storage self, address _id) internal view returns (address) {
        return self.nodes[_id].nextId;
    }

    function getPrev(Data storage self, address _id) internal view returns (address) {
        return self.nodes[_id].prevId;
    }

    /// @dev (prev, next) is a valid place for `_key`: adjacent (or the matching end of the
    /// list) and prev.key >= _key >= next.key.
    function _validInsertPosition(Data storage self, uint256 _key, address _prevId, address _nextId)
        private
        view
        returns (bool)
    {
        if (_prevId == address(0)) {
            if (_nextId == address(0)) return self.size == 0;
            return self.head == _nextId && _key >= self.nodes[_nextId].key;
        }
        Node storage prev = self.nodes[_prevId];
        if (_nextId == address(0)) return self.tail == _prevId && _key <= prev.key;
        return prev.nextId == _nextId && prev.key >= _key && _key >= self.nodes[_nextId].key;
    }

    function _findInsertPosition(Data storage self, uint256 _key, address _prevId, address _nextId)
        private
        view
        returns (address, address)
    {
        // A hint is still usable as a starting point if it is in the list and on the right
        // side of the key.
        if (_prevId != address(0)) {
            uint256 prevKey = self.nodes[_prevId].key;
            if (prevKey == 0 || _key > prevKey) _prevId = address(0);
        }
        if (_nextId != address(0)) {
            uint256 nextKey = self.nodes[_nextId].key;
            if (nextKey == 0 || _key < nextKey) _nextId = address(0);
        }
        if (_prevId != address(0)) return _descend(self, _key, _prevId);
        if (_nextId != address(0)) return _ascend(self, _key, _nextId);
        return _descend(self, _key, self.head);
    }

    /// @dev Walks towards the tail from `_start` (whose key is >= `_key`, or the head) and
    /// stops before the first node whose key is <= `_key`: a new key goes ahead of equal ones.
    function _descend(Data storage self, uint256 _key, address _start) private view returns (address, address) {
        if (_start == self.head && _key >= self.nodes[_start].key) return (address(0), _start);
        address prevId = _start;
        address nextId = self.nodes[prevId].nextId;
        while (nextId != address(0)) {
            Node storage next = self.nodes[nextId];
            if (next.key <= _key) break;
            prevId = nextId;
            nextId = next.nextId;
        }
        return (prevId, nextId);
    }

    /// @dev Walks towards the head from `_start` (whose key is <= `_key`) and stops after the
    /// first node whose key is >= `_key`: a new key goes behind equal ones.
    function _ascend(Data storage self, uint256 _key, address _start) private view returns (address, address) {
        if (_start == self.tail && _key <= self.nodes[_start].key) return (_start, address(0));
        address nextId = _start;
        address prevId = self.nodes[nextId].prevId;
        while (prevId != address(0)) {
            Node storage prev = self.nodes[prevId];
            if (prev.key >= _key) break;
            nextId = prevId;
            prevId = prev.prevId;
        }
        return (prevId, nextId);
    }

    function _link(Data storage self, address _id, uint96 _key, address _prevId, address _nextId) private {
        Node storage node = self.nodes[_id];
        node.key = _key;
        node.nextId = _nextId;
        node.prevId = _prevId;
        if (_prevId == address(0)) self.head = _id;
        else self.nodes[_prevId].nextId = _id;
        if (_nextId == address(0)) self.tail = _id;
        else self.nodes[_nextId].prevId = _id;
    }

    function _unlink(Data storage self, address _id) private {
        Node storage node = self.nodes[_id];
        address prevId = node.prevId;
        address nextId = node.nextId;
        if (prevId == address(0)) self.head = nextId;
        else self.nodes[prevId].nextId = nextId;
        if (nextId == address(0)) self.tail = prevId;
        else self.nodes[nextId].prevId = prevId;
    }
}
