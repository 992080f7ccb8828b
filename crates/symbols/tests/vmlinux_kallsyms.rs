//! Real data (HOLDUP_WORK_DUMPS=1): decode the kallsyms tables inside each Debian vmlinux
//! file and compare every symbol with the vmlinux's ELF symtab.

mod common;

use holdup_symbols::{Kallsyms, KallsymsAddrs, SymbolTable};

#[test]
fn kallsyms_of_vmlinux_matches_its_symtab() {
    if !common::enabled() {
        eprintln!("skipped: set HOLDUP_WORK_DUMPS=1 to run on dumps/work");
        return;
    }
    for (_, release) in common::RELEASES {
        let path = common::vmlinux(release);
        let elf = SymbolTable::from_vmlinux(&path, 0).expect("symtab");
        let img = common::ElfImage::open(&path);
        let addrs = KallsymsAddrs::from_vmcoreinfo(|n| elf.address_of(n)).expect("addresses");
        let ks = Kallsyms::from_memory(&img, addrs).expect("kallsyms");
        let table = ks.table();
        let (mut matched, mut missing) = (0usize, Vec::new());
        for s in table.iter() {
            if elf.lookup_all(s.name).any(|e| e.addr == s.addr) {
                matched += 1;
            } else {
                missing.push(format!("{} {} {:#x}", s.kind, s.name, s.addr));
            }
        }
        eprintln!(
            "{release}: {} kallsyms ({}), names table {} bytes; {matched} match the symtab, {} do not: {:?}",
            table.len(),
            ks.encoding(),
            ks.names_len(),
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        assert!(table.len() > 50_000);
        assert!(missing.is_empty());
        // Resolution like %pS.
        let f = elf.lookup("schedule").expect("schedule");
        let r = table.resolve(f.addr + 5).expect("resolve");
        assert_eq!(r.symbol.name, "schedule");
        assert_eq!(r.offset, 5);
        assert_eq!(r.to_string(), format!("schedule+0x5/{:#x}", r.size));
        let e = elf.resolve(f.addr + 5).unwrap();
        assert_eq!(e.size, f.size.unwrap());
    }
}
