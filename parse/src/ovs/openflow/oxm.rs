//! OXM/NXM TLVs, the one layout OpenFlow 1.3 matches (OXM) and Nicira's OpenFlow 1.0 matches
//! (NXM) share: `class:16 field:7 hasmask:1 length:8`, then the value and, when masked, the
//! mask; class `0xffff` adds a 32-bit experimenter id (counted in the length). Each header is
//! looked up in OVS' field table ([`super::fields`]); actions name fields the same way.

use super::fields::{FIELDS, Field};
use super::{Bytes, OfError};

/// A known field: its index in [`FIELDS`] (an `MFF_*` constant) and its entry.
pub type Known = (u16, &'static Field);
/// One TLV: the field (when known) and its value and mask bytes (mask all ones when absent).
pub struct Tlv<'a> {
    pub header: u32,
    pub field: Option<(u16, &'static Field)>,
    pub value: &'a [u8],
    pub mask: Option<&'a [u8]>,
}
/// Reads one OXM/NXM TLV header (4 bytes, 8 for an experimenter class) and looks its field up.
pub(crate) fn read_header(b: &mut Bytes<'_>) -> Result<(u32, Option<Known>, usize), OfError> {
    let header = b.u32()?;
    let class = (header >> 16) as u16;
    let field = ((header >> 9) & 0x7f) as u8;
    let mut len = (header & 0xff) as usize;
    let vendor = if class == 0xffff {
        len = len.checked_sub(4).ok_or(OfError::BadLength {
            what: "experimenter oxm",
            len,
        })?;
        b.u32()?
    } else {
        0
    };
    Ok((header, lookup(vendor, class, field), len))
}
/// Field index + 1 by field number, for the four classes OVS mostly uses (0 = none).
const INDEX: [[u16; 128]; 4] = build_index();
const fn class_slot(class: u16) -> usize {
    match class {
        0x0000 => 0,
        0x0001 => 1,
        0x8000 => 2,
        0x8001 => 3,
        _ => 4,
    }
}
const fn build_index() -> [[u16; 128]; 4] {
    let mut t = [[0u16; 128]; 4];
    let mut i = 0;
    while i < FIELDS.len() {
        let hs = FIELDS[i].headers;
        let mut j = 0;
        while j < hs.len() {
            let (vendor, class, field) = hs[j];
            let slot = class_slot(class);
            if vendor == 0 && slot < 4 && field < 128 {
                t[slot][field as usize] = i as u16 + 1;
            }
            j += 1;
        }
        i += 1;
    }
    t
}
/// The field a header names.
pub fn lookup(vendor: u32, class: u16, field: u8) -> Option<(u16, &'static Field)> {
    let slot = class_slot(class);
    if vendor == 0 && slot < 4 {
        let i = *INDEX[slot].get(field as usize)?;
        return (i > 0).then(|| (i - 1, &FIELDS[(i - 1) as usize]));
    }
    FIELDS.iter().enumerate().find_map(|(i, f)| {
        f.headers
            .contains(&(vendor, class, field))
            .then_some((i as u16, f))
    })
}
/// Iterates the TLVs of a match.
pub fn tlvs<'a>(fields: &'a [u8], visit: &mut dyn FnMut(Tlv<'a>)) -> Result<(), OfError> {
    let mut b = Bytes::new(fields, "match field");
    while !b.is_empty() {
        let (header, field, len) = read_header(&mut b)?;
        let body = b.take(len)?;
        let hasmask = header & 0x100 != 0;
        let (value, mask) = if hasmask {
            if len % 2 != 0 {
                return Err(OfError::BadLength {
                    what: "masked match field",
                    len,
                });
            }
            let (v, m) = body.split_at(len / 2);
            (v, Some(m))
        } else {
            (body, None)
        };
        // a known field of the wrong width is not that field
        let field = field.filter(|(_, f)| f.n_bytes as usize == value.len());
        visit(Tlv {
            header,
            field,
            value,
            mask,
        });
    }
    Ok(())
}
/// OpenFlow 1.1+ port → 1.0 port (`ofputil_port_from_ofp11`): reserved ports move down to
/// 0xff00…; numbers in between do not fit and print as themselves.
pub fn port_from_ofp11(p: u32) -> u32 {
    if p >= 0xffff_ff00 { p - 0xffff_0000 } else { p }
}
