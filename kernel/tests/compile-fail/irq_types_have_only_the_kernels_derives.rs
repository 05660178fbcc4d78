// 7.3's `IrqRequest` is a move-only token, consumed by `Registration::new`, and its `IrqReturn`
// derives nothing: a driver cannot copy a request to register a line twice, or compare a return
// value, in the kernel, so it cannot here either.
use kernel::irq::{IrqRequest, IrqReturn};

fn twice(request: IrqRequest<'_>) -> [IrqRequest<'_>; 2] {
    [request, request]
}

fn handled(ret: IrqReturn) -> bool {
    ret == IrqReturn::Handled
}

fn main() {}
