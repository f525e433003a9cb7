//! Tasks as last written to a page, kept so the next page that shows them copies the bytes
//! instead of reading and rendering each row again.
//!
//! A copy is used only when the page's own statement finds the task at the same version and
//! its status of the same type ([`TaskStamp`]): everything else a task's JSON shows changes
//! its version or never changes (site codes, workflow names, contractor codes, service
//! level names and task references have no update path), and the stamp is read from the
//! database on every page, so a copy is never older than what any server or command wrote.
//! Bounded: past [`BUDGET`] bytes the copies are dropped and the cache fills again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use caretaker_storage::tasks::TaskStamp;

/// The most bytes of JSON kept (about 12,000 tasks as integrations usually fill them).
pub const BUDGET: usize = 8 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct RenderedTasks {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<i64, (TaskStamp, Arc<[u8]>)>,
    bytes: usize,
}

impl RenderedTasks {
    /// The task's JSON, if the copy kept is of this stamp.
    pub fn get(&self, stamp: &TaskStamp) -> Option<Arc<[u8]>> {
        let inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.by_id.get(&stamp.id).filter(|(kept, _)| kept == stamp).map(|(_, json)| Arc::clone(json))
    }

    /// Keeps `json` as the task's JSON at `stamp`, in place of any older copy.
    pub fn put(&self, stamp: TaskStamp, json: Arc<[u8]>) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.bytes + json.len() > BUDGET {
            inner.by_id.clear();
            inner.bytes = 0;
        }
        inner.bytes += json.len();
        if let Some((_, old)) = inner.by_id.insert(stamp.id, (stamp, json)) {
            inner.bytes -= old.len();
        }
    }

    /// Bytes of JSON kept.
    pub fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner).bytes
    }
}

#[cfg(test)]
mod tests {
    use caretaker_domain::task::StatusType;

    use super::*;

    fn stamp(id: i64, version: i64, status_type: StatusType) -> TaskStamp {
        TaskStamp { id, version, status_type }
    }

    #[test]
    fn a_copy_serves_only_its_own_version_and_status_type() {
        let cache = RenderedTasks::default();
        cache.put(stamp(1, 3, StatusType::Open), Arc::from(&b"{\"v\":3}"[..]));
        assert_eq!(cache.get(&stamp(1, 3, StatusType::Open)).as_deref(), Some(&b"{\"v\":3}"[..]));
        assert!(cache.get(&stamp(1, 4, StatusType::Open)).is_none(), "a newer version");
        assert!(cache.get(&stamp(1, 3, StatusType::Closed)).is_none(), "the status's type was edited");
        assert!(cache.get(&stamp(2, 3, StatusType::Open)).is_none(), "another task");
        cache.put(stamp(1, 4, StatusType::Open), Arc::from(&b"{\"v\":44}"[..]));
        assert!(cache.get(&stamp(1, 3, StatusType::Open)).is_none(), "the older copy is gone");
        assert_eq!(cache.bytes(), 8);
    }

    #[test]
    fn the_cache_never_holds_more_than_its_budget() {
        let cache = RenderedTasks::default();
        let json: Arc<[u8]> = Arc::from(vec![b'x'; 700]);
        for id in 0..(3 * BUDGET / 700) as i64 {
            cache.put(stamp(id, 1, StatusType::Open), Arc::clone(&json));
            assert!(cache.bytes() <= BUDGET);
        }
        assert!(cache.bytes() > 0);
    }
}
