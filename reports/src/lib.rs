//! Metrics and reports over the change history (polars). Populated by the
//! reporting work (issue 6); kept as a workspace member so the layout in
//! DESIGN.md holds from the start.
