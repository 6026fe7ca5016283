//! `NXAST_LEARN` and `NXAST_LEARN2`, rendered as `learn_format` (OVS `lib/learn.c`) prints
//! them: `learn(table=N,idle_timeout=…,priority=…,cookie=…,<spec>,…)`, where a spec is a match
//! (`NXM_OF_VLAN_TCI[0..11]`, `NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[]`, `dl_type=0x800`), a load
//! (`load:NXM_NX_TUN_ID[]->NXM_NX_TUN_ID[]`, `load:0->NXM_OF_VLAN_TCI[]`) or an output
//! (`output:OXM_OF_IN_PORT[]`).

use std::fmt::Write;

use super::fields::Field;
use super::oxm::read_header;
use super::text::{field_value, hash_x, hex_bytes, subfield};
use super::{Bytes, OfError};

fn sub(b: &mut Bytes<'_>) -> Result<(Option<&'static Field>, u16), OfError> {
    let f = read_header(b)?.1.map(|(_, f)| f);
    Ok((f, b.u16()?))
}

/// Appends one learn action (`a` is the whole action, header included).
pub fn format(learn2: bool, a: &[u8], s: &mut String) -> Result<(), OfError> {
    let mut b = Bytes::new(a.get(10..).unwrap_or(&[]), "learn");
    let idle = b.u16()?;
    let hard = b.u16()?;
    let priority = b.u16()?;
    let cookie = b.u64()?;
    let flags = b.u16()?;
    let table = b.u8()?;
    b.skip(1)?;
    let fin_idle = b.u16()?;
    let fin_hard = b.u16()?;
    let (mut limit, mut result) = (0, None);
    if learn2 {
        limit = b.u32()?;
        let ofs = b.u16()?;
        b.skip(2)?;
        if flags & 4 != 0 {
            let f = read_header(&mut b)?.1.map(|(_, f)| f);
            result = Some((f, ofs));
        }
    }
    let _ = write!(s, "learn(table={table}");
    if idle != 0 {
        let _ = write!(s, ",idle_timeout={idle}");
    }
    if hard != 0 {
        let _ = write!(s, ",hard_timeout={hard}");
    }
    if fin_idle != 0 {
        let _ = write!(s, ",fin_idle_timeout={fin_idle}");
    }
    if fin_hard != 0 {
        let _ = write!(s, ",fin_hard_timeout={fin_hard}");
    }
    if priority != 32768 {
        let _ = write!(s, ",priority={priority}");
    }
    if flags & 1 != 0 {
        s.push_str(",send_flow_rem");
    }
    if flags & 2 != 0 {
        s.push_str(",delete_learned");
    }
    if cookie != 0 {
        s.push_str(",cookie=");
        hash_x(s, cookie as u128);
    }
    if limit != 0 {
        let _ = write!(s, ",limit={limit}");
    }
    if let Some((f, ofs)) = result {
        s.push_str(",result_dst=");
        subfield(s, f, ofs, f.map_or(1, |f| f.n_bits));
    }
    while b.len() >= 2 {
        let header = b.u16()?;
        if header == 0 {
            break;
        }
        let imm_src = header & (1 << 13) != 0;
        let dst_type = (header >> 11) & 3;
        let n_bits = header & 0x3ff;
        let n_bytes = n_bits.div_ceil(8) as usize;
        let (src, imm) = if imm_src {
            let p = b.take(2 * n_bits.div_ceil(16) as usize)?;
            (None, &p[p.len() - n_bytes..])
        } else {
            (Some(sub(&mut b)?), &[][..])
        };
        let dst = if dst_type == 0 || dst_type == 1 {
            Some(sub(&mut b)?)
        } else {
            None
        };
        s.push(',');
        match (src, dst_type, dst) {
            (None, 0, Some((Some(f), 0))) if n_bits == f.n_bits => {
                let n = f.n_bytes as usize;
                let mut value = [0u8; 16];
                let take = n_bytes.min(n);
                value[n - take..n].copy_from_slice(&imm[n_bytes - take..]);
                let _ = write!(s, "{}=", f.name);
                field_value(s, f, &value[..n], None);
            }
            (None, 0, Some((f, ofs))) => {
                subfield(s, f, ofs, n_bits);
                s.push('=');
                hex_bytes(s, imm);
            }
            (Some((sf, sofs)), 0, Some((df, dofs))) => {
                subfield(s, df, dofs, n_bits);
                if sf.map(|f| f.mff) != df.map(|f| f.mff) || sofs != dofs {
                    s.push('=');
                    subfield(s, sf, sofs, n_bits);
                }
            }
            (None, 1, Some((df, dofs))) => {
                s.push_str("load:");
                hex_bytes(s, imm);
                s.push_str("->");
                subfield(s, df, dofs, n_bits);
            }
            (Some((sf, sofs)), 1, Some((df, dofs))) => {
                s.push_str("load:");
                subfield(s, sf, sofs, n_bits);
                s.push_str("->");
                subfield(s, df, dofs, n_bits);
            }
            (Some((sf, sofs)), 2, None) => {
                s.push_str("output:");
                subfield(s, sf, sofs, n_bits);
            }
            _ => {
                let _ = write!(s, "unknown_spec=0x{header:04x}");
            }
        }
    }
    s.push(')');
    Ok(())
}
