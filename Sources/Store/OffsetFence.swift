/// Why a retried commit is never applied twice, and never wrongly reported as fenced.
///
/// Every commit advances each partition's stored offset from `expected` to `next` in the same transaction as
/// the state, and fails as `StoreError.fenced` (writing nothing) when the stored offset is not `expected`.
/// The pipeline retries retriable errors (`isRetriable`: `.queryFailed`, `.unavailable`) with the SAME batch
/// and the SAME `OffsetAdvance`s, and drops the batch on `.fenced` without moving its own idea of the offsets.
///
/// The dangerous case is a commit whose outcome is unknown: the connection dropped while `COMMIT` was in
/// flight (PostgreSQL), or an error was reported after the data reached the file (SQLite). Then either
/// - the first attempt did NOT commit: the retry finds `expected` stored and commits normally; or
/// - the first attempt DID commit: the retry finds `next` stored, not `expected`. Without further care it
///   would fail as fenced; the pipeline would drop the batch (its churn-scores messages unpublished) and keep
///   believing `expected` is stored, so every later commit of that partition would be fenced too until a
///   rebalance.
///
/// So both backends check, inside the failed transaction and before rolling it back, whether EVERY partition
/// of the commit already holds exactly its `next`. If so, the batch is already in the store: the transaction
/// is rolled back (nothing is written a second time: counters are not added again, profiles not rewritten)
/// and the commit returns success. Otherwise it is a real fence and throws `StoreError.fenced`.
///
/// The check can also succeed for a zombie whose partition's new owner happened to commit the very same
/// range of offsets (same `expected`, same `next`). That is harmless: the new owner applied the same events,
/// the zombie writes nothing, and its next commit (from `next` onwards) is fenced as usual once the owner
/// moves on. Output topics are at-least-once, so a repeated churn-scores message is allowed.
struct OffsetsAlreadyCommitted: Error {}

extension OffsetAdvance {
    /// Whether the stored offsets show that a commit of these advances has already been applied.
    static func alreadyApplied(_ advances: [OffsetAdvance], stored: [Int32: Int64]) -> Bool {
        !advances.isEmpty && advances.allSatisfy { stored[$0.partition] == $0.next }
    }
}
