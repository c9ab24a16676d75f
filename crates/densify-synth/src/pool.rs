//! Runs requests on a fixed number of threads and hands each result to the caller's thread in
//! completion order; the first error stops new requests, the ones in flight still finish and
//! are handed over, and then the error is returned.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use crate::error::{Result, SynthError};

/// Calls `work(i)` for `i` in `0..count` on `threads` threads; `take(i, result)` runs on the
/// calling thread for each finished request. Returns the first error of `work` or `take`.
pub fn run_concurrently<R: Send>(
    count: usize,
    threads: usize,
    work: &(dyn Fn(usize) -> Result<R> + Sync),
    take: &mut dyn FnMut(usize, R) -> Result<()>,
) -> Result<()> {
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<SynthError>> = Mutex::new(None);
    let (sender, receiver) = mpsc::channel::<(usize, R)>();
    let mut take_error = None;
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1).min(count.max(1)) {
            let sender = sender.clone();
            let (next, stop, failure) = (&next, &stop, &failure);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count {
                        break;
                    }
                    match work(i) {
                        Ok(r) => {
                            if sender.send((i, r)).is_err() {
                                break;
                            }
                        }
                        Err(e) => {
                            stop.store(true, Ordering::SeqCst);
                            failure
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .get_or_insert(e);
                            break;
                        }
                    }
                }
            });
        }
        drop(sender);
        for (i, r) in receiver {
            if take_error.is_none()
                && let Err(e) = take(i, r)
            {
                stop.store(true, Ordering::SeqCst);
                take_error = Some(e);
            }
        }
    });
    if let Some(e) = take_error {
        return Err(e);
    }
    match failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_result_arrives_once() {
        let mut seen = [0; 50];
        run_concurrently(50, 4, &|i| Ok(i * 2), &mut |i, r| {
            assert_eq!(r, i * 2);
            seen[i] += 1;
            Ok(())
        })
        .unwrap();
        assert!(seen.iter().all(|&n| n == 1));
    }

    #[test]
    fn an_error_stops_new_work_but_keeps_finished_results() {
        let mut taken = Vec::new();
        let e = run_concurrently(
            100,
            1,
            &|i| {
                if i == 5 {
                    Err(SynthError::NothingToDo("boom"))
                } else {
                    Ok(i)
                }
            },
            &mut |i, _| {
                taken.push(i);
                Ok(())
            },
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "boom");
        assert_eq!(taken, vec![0, 1, 2, 3, 4]);
    }
}
