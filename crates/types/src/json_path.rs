//! Payload key paths (`a.b`, `arr[]`, `arr[0]`): reading values, setting and deleting at a path.
//! (Interface placeholder; the full implementation is being written.)
