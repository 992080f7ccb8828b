//! Checks symbols and types decoded from a real dump against the oracles beside it:
//! `symbols-sample.tsv` (vmlinux symtab, relocated) and `dwarf-offsets.tsv` (DWARF via drgn).
#![allow(dead_code)]

use holdup_kmem::KernelDump;
use holdup_symbols::{Kallsyms, KallsymsAddrs, SymbolTable, kernel_btf};
use holdup_types::Types;
use std::path::Path;
use std::time::Instant;

#[derive(Default, Debug)]
pub struct Report {
    pub lines: Vec<String>,
    pub failures: Vec<String>,
    pub symbols_matched: usize,
    pub offsets_matched: usize,
}

impl Report {
    fn say(&mut self, s: String) {
        self.lines.push(s);
    }
    fn fail(&mut self, s: String) {
        if self.failures.len() < 50 {
            self.failures.push(s);
        }
    }
}

fn read_tsv(path: &Path) -> Result<Vec<Vec<String>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect())
}

/// Opens `dir/<dump_name>` and checks it against `dir/symbols-sample.tsv`,
/// `dir/dwarf-offsets.tsv`, and (when given) the vmlinux symtab.
pub fn check_dump(dir: &Path, dump_name: &str, vmlinux: Option<&Path>) -> Report {
    let mut r = Report::default();
    let t = Instant::now();
    let kd = match KernelDump::open(dir.join(dump_name)) {
        Ok(k) => k,
        Err(e) => {
            r.fail(format!("open {}: {e}", dir.join(dump_name).display()));
            return r;
        }
    };
    let vi = &kd.vmcoreinfo;
    let addrs = match KallsymsAddrs::from_vmcoreinfo(|n| vi.symbol(n).ok().flatten()) {
        Ok(a) => a,
        Err(e) => {
            r.fail(e.to_string());
            return r;
        }
    };
    let ks = match Kallsyms::from_memory(&kd.mem, addrs) {
        Ok(k) => k,
        Err(e) => {
            r.fail(format!("kallsyms: {e}"));
            return r;
        }
    };
    r.say(format!(
        "{}: {} kallsyms ({}) in {:?}",
        vi.osrelease().unwrap_or("?"),
        ks.table().len(),
        ks.encoding(),
        t.elapsed()
    ));
    let mut table = ks.into_table();

    // Every sampled vmlinux symbol must be in kallsyms at the same address.
    match read_tsv(&dir.join("symbols-sample.tsv")) {
        Err(e) => r.fail(format!("missing oracle: {e}")),
        Ok(rows) => {
            let (mut ok, mut absent, mut kind_diff) = (0, Vec::new(), Vec::new());
            for row in &rows {
                let [name, kind, addr] = &row[..] else {
                    r.fail(format!("symbols-sample.tsv: bad row {row:?}"));
                    continue;
                };
                let Ok(addr) = u64::from_str_radix(addr.trim_start_matches("0x"), 16) else {
                    r.fail(format!("symbols-sample.tsv: bad address in {row:?}"));
                    continue;
                };
                let all: Vec<_> = table.lookup_all(name).collect();
                if all.is_empty() {
                    absent.push(name.clone());
                } else if let Some(s) = all.iter().find(|s| s.addr == addr) {
                    ok += 1;
                    if !kind.starts_with(s.kind) {
                        kind_diff.push(format!("{name} {kind}/{}", s.kind));
                    }
                } else {
                    r.fail(format!(
                        "symbol {name}: sample {addr:#x}, kallsyms {:#x}",
                        all[0].addr
                    ));
                }
            }
            r.symbols_matched = ok;
            r.say(format!(
                "symbols-sample.tsv: {ok}/{} at the same address ({} with another type letter: {}), {} not in kallsyms (e.g. {})",
                rows.len(),
                kind_diff.len(),
                kind_diff.join(", "),
                absent.len(),
                absent.iter().take(6).cloned().collect::<Vec<_>>().join(" ")
            ));
            // scripts/kallsyms leaves out (is_ignored_symbol) export-table entries, local
            // labels and, on 6.1, its own tables.
            for a in &absent {
                let ignored = ["__crc_", "__kstrtab_", "__kstrtabns_", ".L", "kallsyms_"];
                if !ignored.iter().any(|p| a.starts_with(p)) {
                    r.fail(format!("sampled symbol {a} missing from kallsyms"));
                }
            }
        }
    }

    if let Some(v) = vmlinux {
        let ko = vi.kernel_offset().ok().flatten().unwrap_or(0);
        match SymbolTable::from_vmlinux(v, ko) {
            Err(e) => r.fail(format!("vmlinux symtab: {e}")),
            Ok(elf) => {
                let n = table
                    .iter()
                    .filter(|s| elf.lookup_all(s.name).any(|e| e.addr == s.addr))
                    .count();
                r.say(format!(
                    "vmlinux symtab relocated by {ko:#x}: {n}/{} kallsyms symbols at the same address",
                    table.len()
                ));
                if n != table.len() {
                    r.fail(format!(
                        "{} kallsyms symbols differ from the vmlinux symtab",
                        table.len() - n
                    ));
                }
            }
        }
    }

    // Types from the kernel's own BTF.
    let t = Instant::now();
    let types = match kernel_btf(&kd.mem, &table) {
        Ok(b) => Types::new(b),
        Err(e) => {
            r.fail(format!("BTF: {e}"));
            return r;
        }
    };
    r.say(format!("{} in {:?}", types.origin(), t.elapsed()));
    match read_tsv(&dir.join("dwarf-offsets.tsv")) {
        Err(e) => r.fail(format!("missing oracle: {e}")),
        Ok(rows) => {
            let (mut ok, mut n) = (0, 0);
            for row in &rows {
                let [s, path, off, bit, bits, size] = &row[..] else {
                    r.fail(format!("dwarf-offsets.tsv: bad row {row:?}"));
                    continue;
                };
                n += 1;
                let sname = format!("struct {s}");
                if path == "-" {
                    match types.sizeof(&sname) {
                        Ok(z) if z.to_string() == *size => ok += 1,
                        other => r.fail(format!("sizeof({sname}): DWARF {size}, BTF {other:?}")),
                    }
                    continue;
                }
                let got = types.member(&format!("{sname}.{path}")).map(|f| {
                    let sz = types
                        .sizeof_id(f.ty)
                        .map(|z| z.to_string())
                        .unwrap_or("-".into());
                    let (b, w) = match f.bit_size {
                        Some(w) => (f.bit_offset.to_string(), w.to_string()),
                        None => ("-".into(), "-".into()),
                    };
                    [f.offset.to_string(), b, w, sz]
                });
                let want = [off.clone(), bit.clone(), bits.clone(), size.clone()];
                // BTF cannot tell a flexible array `x[]` (DWARF: incomplete, size "-") from
                // `x[0]`: both have 0 elements, so size 0.
                let same = |g: &[String; 4]| {
                    g[..3] == want[..3] && (g[3] == want[3] || (g[3] == "0" && want[3] == "-"))
                };
                match got {
                    Ok(g) if same(&g) => ok += 1,
                    other => r.fail(format!("{s}.{path}: DWARF {want:?}, BTF {other:?}")),
                }
            }
            r.offsets_matched = ok;
            r.say(format!("dwarf-offsets.tsv: {ok}/{n} rows equal in BTF"));
        }
    }

    // Modules.
    let t = Instant::now();
    match table.add_modules(&kd.mem, &types) {
        Err(e) => r.fail(format!("modules: {e}")),
        Ok(n) => {
            let mods = table.modules();
            let syms: usize = mods.iter().map(|m| m.symbols).sum();
            r.say(format!(
                "{n} modules, {syms} module symbols in {:?}: {}",
                t.elapsed(),
                mods.iter()
                    .map(|m| format!("{}({})", m.name, m.symbols))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
            for m in mods {
                if let Some(e) = &m.error {
                    r.fail(format!("module {}: {e}", m.name));
                }
                // A module's own symbols resolve back to it.
                if let Some(s) = table.iter().find(|s| {
                    s.module == Some(m.name.as_str()) && s.kind.eq_ignore_ascii_case(&'t')
                }) {
                    let back = table.resolve(s.addr + 1).map(|x| x.to_string());
                    r.say(format!("  {}: {:#x} -> {:?}", m.name, s.addr + 1, back));
                }
            }
        }
    }
    for name in [
        "schedule",
        "folio_wait_bit_common",
        "rwsem_down_write_slowpath",
    ] {
        if let Some(a) = table.address_of(name) {
            r.say(format!(
                "  {name}+0x10 = {}",
                table.format_address(a + 0x10)
            ));
        }
    }
    r
}
