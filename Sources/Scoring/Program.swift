import Foundation

/// Everything the evaluator needs, compiled once and shared read-only across threads.
final class Program: Sendable {
    /// Number of value slots per row (inputs first, then derived and output fields).
    let slotCount: Int
    /// Number of input slots (== inputFields.count).
    let inputCount: Int
    /// Size of the probability scratch area.
    let probabilityCount: Int
    /// Initial state per slot for non-input slots (pending for derived fields, missing for outputs).
    let initialStates: [UInt8]
    /// Expression per derived slot.
    let derived: [Expr?]
    /// Field name per slot (for error messages).
    let slotNames: [String]
    /// The top-level model.
    let root: ModelNode
    /// Index of the reported category in the root model's categories (classification).
    let reportedCategory: Int

    /// Creates the instance.
    init(slotCount: Int, inputCount: Int, probabilityCount: Int, initialStates: [UInt8], derived: [Expr?],
         slotNames: [String], root: ModelNode, reportedCategory: Int) {
        self.slotCount = slotCount
        self.inputCount = inputCount
        self.probabilityCount = probabilityCount
        self.initialStates = initialStates
        self.derived = derived
        self.slotNames = slotNames
        self.root = root
        self.reportedCategory = reportedCategory
    }
}

/// Per-call mutable working memory: slot values and states, and probability scratch.
///
/// - Important: a context is used by one thread at a time; create one per call or per task.
final class RowContext {
    /// The compiled program.
    let program: Program
    /// Slot values (NaN for missing).
    let values: UnsafeMutablePointer<Double>
    /// Slot states.
    let states: UnsafeMutablePointer<UInt8>
    /// Probability scratch.
    let probs: UnsafeMutablePointer<Double>

    /// Creates the instance.
    init(program: Program) {
        self.program = program
        values = .allocate(capacity: max(program.slotCount, 1))
        states = .allocate(capacity: max(program.slotCount, 1))
        probs = .allocate(capacity: max(program.probabilityCount, 1))
        values.initialize(repeating: .nan, count: max(program.slotCount, 1))
        states.initialize(repeating: SlotState.missing, count: max(program.slotCount, 1))
        probs.initialize(repeating: 0, count: max(program.probabilityCount, 1))
    }

    deinit {
        values.deallocate()
        states.deallocate()
        probs.deallocate()
    }

    /// Loads a prepared input row and resets every other slot.
    @inline(__always) func load(_ row: borrowing InputRow) {
        let n = program.inputCount
        row.values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { values.update(from: base, count: n) }
        }
        row.states.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { states.update(from: base, count: n) }
        }
        resetDerived()
    }

    /// Resets every slot after the inputs (derived fields) for a new row.
    @inline(__always) func resetDerived() {
        let n = program.inputCount
        let total = program.slotCount
        if total > n {
            program.initialStates.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { (states + n).update(from: base + n, count: total - n) }
            }
            (values + n).update(repeating: .nan, count: total - n)
        }
    }

    /// Computes a derived slot if it has not been computed for this row.
    @inline(__always) func ensure(_ slot: Int) throws(ScoringError) {
        if states[slot] == SlotState.pending { try compute(slot) }
    }

    /// Computes a derived slot.
    @inline(never) func compute(_ slot: Int) throws(ScoringError) {
        // Mark as missing first so that a (malformed) cyclic definition terminates.
        states[slot] = SlotState.missing
        guard let expr = program.derived[slot] else { return }
        let v = try eval(expr)
        values[slot] = v.s == SlotState.missing ? .nan : v.v
        states[slot] = v.s
    }

    /// The value of a slot, computing it if needed.
    @inline(__always) func get(_ slot: Int) throws(ScoringError) -> Val {
        if states[slot] == SlotState.pending { try compute(slot) }
        return Val(v: values[slot], s: states[slot])
    }

    /// Writes a value into a slot.
    @inline(__always) func set(_ slot: Int, _ v: Val) {
        values[slot] = v.s == SlotState.missing ? .nan : v.v
        states[slot] = v.s
    }
}
