//! Reading a driver process's state files in tests: the tables of `drydock_host::state`
//! (`drydock/devices`, `drydock/interrupts`, `drydock/dma`), and any file written the same way,
//! with a header row naming the columns and cells without spaces.

use std::collections::BTreeMap;

/// A row of a table: its cells, by the names of their columns.
pub type Row = BTreeMap<String, String>;

/// The tables of a file's text, separated by blank lines, each as its rows (the header names the
/// columns and is not a row).
///
/// # Examples
///
/// ```
/// use drydock_sim::state::{find, tables};
///
/// let text = "IRQ  INTERRUPTS  DEVICE\n1:   23          0000:00:02.0\n\nSPACE  MAPS\n0      1\n";
/// let tables = tables(text);
/// let edu = find(&tables[0], "DEVICE", "0000:00:02.0").unwrap();
/// assert_eq!(edu["INTERRUPTS"], "23");
/// assert_eq!(tables[1][0]["MAPS"], "1");
/// ```
pub fn tables(text: &str) -> Vec<Vec<Row>> {
    text.split("\n\n")
        .filter_map(|table| {
            let mut lines = table.lines().filter(|line| !line.trim().is_empty());
            let names: Vec<&str> = lines.next()?.split_whitespace().collect();
            Some(
                lines
                    .map(|line| {
                        names
                            .iter()
                            .zip(line.split_whitespace())
                            .map(|(name, cell)| ((*name).to_owned(), cell.to_owned()))
                            .collect()
                    })
                    .collect(),
            )
        })
        .collect()
}

/// The first row of `table` whose cell in `column` is `value`.
pub fn find<'a>(table: &'a [Row], column: &str, value: &str) -> Option<&'a Row> {
    table
        .iter()
        .find(|row| row.get(column).is_some_and(|cell| cell == value))
}
