//! The match fields OVS 3.1 knows (`include/openvswitch/meta-flow.h`), as a table: each
//! field's name (`set_field:…->NAME`, learn's `NAME=…`), the NXM/OXM name `mf_format_subfield`
//! prints (`NXM_NX_REG5[0..15]`: the NXM name where one exists, as `nxm_field_by_mf_id(id, 0)`
//! picks), its width, how its values print, and every header that names it on the wire.
//!
//! Generated from OVS v3.1.0 with its own extractor (`python/build/extract_ofp_fields.py`):
//! `extract_ofp_fields("include/openvswitch/meta-flow.h")`, one row per field with an NXM or OXM
//! header; the variable-length `tun_metadata0..63` are left out (they decode as unknown).
//! Do not edit by hand; regenerate.

/// How a field's value prints (OVS' `enum mf_string`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fmt {
    Decimal,
    Hex,
    CtState,
    Ethernet,
    Ipv4,
    Ipv6,
    Port16,
    Port32,
    Frag,
    TunFlags,
    TcpFlags,
    PacketType,
}

/// One field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// OVS' `MFF_…` id, without the prefix (for readers of the C code).
    pub mff: &'static str,
    pub name: &'static str,
    /// The name `mf_format_subfield` prints.
    pub nxm_name: &'static str,
    pub n_bits: u16,
    pub n_bytes: u8,
    pub fmt: Fmt,
    /// (experimenter id or 0, class, field) of every header naming it.
    pub headers: &'static [(u32, u16, u8)],
}

/// Every field; the `MFF_*` constants index it.
pub const FIELDS: &[Field] = &[
    Field {
        mff: "DP_HASH",
        name: "dp_hash",
        nxm_name: "NXM_NX_DP_HASH",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x2320, 0xffff, 0), (0x0, 0x1, 35)],
    },
    Field {
        mff: "RECIRC_ID",
        name: "recirc_id",
        nxm_name: "NXM_NX_RECIRC_ID",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x1, 36)],
    },
    Field {
        mff: "PACKET_TYPE",
        name: "packet_type",
        nxm_name: "OXM_OF_PACKET_TYPE",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::PacketType,
        headers: &[(0x0, 0x8000, 44)],
    },
    Field {
        mff: "CONJ_ID",
        name: "conj_id",
        nxm_name: "NXM_NX_CONJ_ID",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x1, 37)],
    },
    Field {
        mff: "TUN_ID",
        name: "tun_id",
        nxm_name: "NXM_NX_TUN_ID",
        n_bits: 64,
        n_bytes: 8,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8000, 38), (0x0, 0x1, 16)],
    },
    Field {
        mff: "TUN_SRC",
        name: "tun_src",
        nxm_name: "NXM_NX_TUN_IPV4_SRC",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Ipv4,
        headers: &[(0x0, 0x1, 31)],
    },
    Field {
        mff: "TUN_DST",
        name: "tun_dst",
        nxm_name: "NXM_NX_TUN_IPV4_DST",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Ipv4,
        headers: &[(0x0, 0x1, 32)],
    },
    Field {
        mff: "TUN_IPV6_SRC",
        name: "tun_ipv6_src",
        nxm_name: "NXM_NX_TUN_IPV6_SRC",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Ipv6,
        headers: &[(0x0, 0x1, 109)],
    },
    Field {
        mff: "TUN_IPV6_DST",
        name: "tun_ipv6_dst",
        nxm_name: "NXM_NX_TUN_IPV6_DST",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Ipv6,
        headers: &[(0x0, 0x1, 110)],
    },
    Field {
        mff: "TUN_FLAGS",
        name: "tun_flags",
        nxm_name: "NXM_NX_TUN_FLAGS",
        n_bits: 1,
        n_bytes: 2,
        fmt: Fmt::TunFlags,
        headers: &[(0x0, 0x1, 104)],
    },
    Field {
        mff: "TUN_GBP_ID",
        name: "tun_gbp_id",
        nxm_name: "NXM_NX_TUN_GBP_ID",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x1, 38)],
    },
    Field {
        mff: "TUN_GBP_FLAGS",
        name: "tun_gbp_flags",
        nxm_name: "NXM_NX_TUN_GBP_FLAGS",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 39)],
    },
    Field {
        mff: "TUN_ERSPAN_IDX",
        name: "tun_erspan_idx",
        nxm_name: "NXOXM_ET_ERSPAN_IDX",
        n_bits: 20,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x2320, 0xffff, 11)],
    },
    Field {
        mff: "TUN_ERSPAN_VER",
        name: "tun_erspan_ver",
        nxm_name: "NXOXM_ET_ERSPAN_VER",
        n_bits: 4,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x2320, 0xffff, 12)],
    },
    Field {
        mff: "TUN_ERSPAN_DIR",
        name: "tun_erspan_dir",
        nxm_name: "NXOXM_ET_ERSPAN_DIR",
        n_bits: 1,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x2320, 0xffff, 13)],
    },
    Field {
        mff: "TUN_ERSPAN_HWID",
        name: "tun_erspan_hwid",
        nxm_name: "NXOXM_ET_ERSPAN_HWID",
        n_bits: 6,
        n_bytes: 1,
        fmt: Fmt::Hex,
        headers: &[(0x2320, 0xffff, 14)],
    },
    Field {
        mff: "TUN_GTPU_FLAGS",
        name: "tun_gtpu_flags",
        nxm_name: "NXOXM_ET_GTPU_FLAGS",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Hex,
        headers: &[(0x2320, 0xffff, 15)],
    },
    Field {
        mff: "TUN_GTPU_MSGTYPE",
        name: "tun_gtpu_msgtype",
        nxm_name: "NXOXM_ET_GTPU_MSGTYPE",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x2320, 0xffff, 16)],
    },
    Field {
        mff: "METADATA",
        name: "metadata",
        nxm_name: "OXM_OF_METADATA",
        n_bits: 64,
        n_bytes: 8,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8000, 2)],
    },
    Field {
        mff: "IN_PORT",
        name: "in_port",
        nxm_name: "NXM_OF_IN_PORT",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Port16,
        headers: &[(0x0, 0x0, 0)],
    },
    Field {
        mff: "IN_PORT_OXM",
        name: "in_port_oxm",
        nxm_name: "OXM_OF_IN_PORT",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Port32,
        headers: &[(0x0, 0x8000, 0)],
    },
    Field {
        mff: "ACTSET_OUTPUT",
        name: "actset_output",
        nxm_name: "ONFOXM_ET_ACTSET_OUTPUT",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Port32,
        headers: &[(0x4f4e4600, 0xffff, 43), (0x0, 0x8000, 43)],
    },
    Field {
        mff: "PKT_MARK",
        name: "pkt_mark",
        nxm_name: "NXM_NX_PKT_MARK",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 33)],
    },
    Field {
        mff: "CT_STATE",
        name: "ct_state",
        nxm_name: "NXM_NX_CT_STATE",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::CtState,
        headers: &[(0x0, 0x1, 105)],
    },
    Field {
        mff: "CT_ZONE",
        name: "ct_zone",
        nxm_name: "NXM_NX_CT_ZONE",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 106)],
    },
    Field {
        mff: "CT_MARK",
        name: "ct_mark",
        nxm_name: "NXM_NX_CT_MARK",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 107)],
    },
    Field {
        mff: "CT_LABEL",
        name: "ct_label",
        nxm_name: "NXM_NX_CT_LABEL",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 108)],
    },
    Field {
        mff: "CT_NW_PROTO",
        name: "ct_nw_proto",
        nxm_name: "NXM_NX_CT_NW_PROTO",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x1, 119)],
    },
    Field {
        mff: "CT_NW_SRC",
        name: "ct_nw_src",
        nxm_name: "NXM_NX_CT_NW_SRC",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Ipv4,
        headers: &[(0x0, 0x1, 120)],
    },
    Field {
        mff: "CT_NW_DST",
        name: "ct_nw_dst",
        nxm_name: "NXM_NX_CT_NW_DST",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Ipv4,
        headers: &[(0x0, 0x1, 121)],
    },
    Field {
        mff: "CT_IPV6_SRC",
        name: "ct_ipv6_src",
        nxm_name: "NXM_NX_CT_IPV6_SRC",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Ipv6,
        headers: &[(0x0, 0x1, 122)],
    },
    Field {
        mff: "CT_IPV6_DST",
        name: "ct_ipv6_dst",
        nxm_name: "NXM_NX_CT_IPV6_DST",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Ipv6,
        headers: &[(0x0, 0x1, 123)],
    },
    Field {
        mff: "CT_TP_SRC",
        name: "ct_tp_src",
        nxm_name: "NXM_NX_CT_TP_SRC",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x1, 124)],
    },
    Field {
        mff: "CT_TP_DST",
        name: "ct_tp_dst",
        nxm_name: "NXM_NX_CT_TP_DST",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x1, 125)],
    },
    Field {
        mff: "REG0",
        name: "reg0",
        nxm_name: "NXM_NX_REG0",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 0)],
    },
    Field {
        mff: "REG1",
        name: "reg1",
        nxm_name: "NXM_NX_REG1",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 1)],
    },
    Field {
        mff: "REG2",
        name: "reg2",
        nxm_name: "NXM_NX_REG2",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 2)],
    },
    Field {
        mff: "REG3",
        name: "reg3",
        nxm_name: "NXM_NX_REG3",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 3)],
    },
    Field {
        mff: "REG4",
        name: "reg4",
        nxm_name: "NXM_NX_REG4",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 4)],
    },
    Field {
        mff: "REG5",
        name: "reg5",
        nxm_name: "NXM_NX_REG5",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 5)],
    },
    Field {
        mff: "REG6",
        name: "reg6",
        nxm_name: "NXM_NX_REG6",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 6)],
    },
    Field {
        mff: "REG7",
        name: "reg7",
        nxm_name: "NXM_NX_REG7",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 7)],
    },
    Field {
        mff: "REG8",
        name: "reg8",
        nxm_name: "NXM_NX_REG8",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 8)],
    },
    Field {
        mff: "REG9",
        name: "reg9",
        nxm_name: "NXM_NX_REG9",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 9)],
    },
    Field {
        mff: "REG10",
        name: "reg10",
        nxm_name: "NXM_NX_REG10",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 10)],
    },
    Field {
        mff: "REG11",
        name: "reg11",
        nxm_name: "NXM_NX_REG11",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 11)],
    },
    Field {
        mff: "REG12",
        name: "reg12",
        nxm_name: "NXM_NX_REG12",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 12)],
    },
    Field {
        mff: "REG13",
        name: "reg13",
        nxm_name: "NXM_NX_REG13",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 13)],
    },
    Field {
        mff: "REG14",
        name: "reg14",
        nxm_name: "NXM_NX_REG14",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 14)],
    },
    Field {
        mff: "REG15",
        name: "reg15",
        nxm_name: "NXM_NX_REG15",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 15)],
    },
    Field {
        mff: "XREG0",
        name: "xreg0",
        nxm_name: "OXM_OF_PKT_REG0",
        n_bits: 64,
        n_bytes: 8,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8001, 0)],
    },
    Field {
        mff: "XREG1",
        name: "xreg1",
        nxm_name: "OXM_OF_PKT_REG1",
        n_bits: 64,
        n_bytes: 8,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8001, 1)],
    },
    Field {
        mff: "XREG2",
        name: "xreg2",
        nxm_name: "OXM_OF_PKT_REG2",
        n_bits: 64,
        n_bytes: 8,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8001, 2)],
    },
    Field {
        mff: "XREG3",
        name: "xreg3",
        nxm_name: "OXM_OF_PKT_REG3",
        n_bits: 64,
        n_bytes: 8,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8001, 3)],
    },
    Field {
        mff: "XREG4",
        name: "xreg4",
        nxm_name: "OXM_OF_PKT_REG4",
        n_bits: 64,
        n_bytes: 8,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8001, 4)],
    },
    Field {
        mff: "XREG5",
        name: "xreg5",
        nxm_name: "OXM_OF_PKT_REG5",
        n_bits: 64,
        n_bytes: 8,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8001, 5)],
    },
    Field {
        mff: "XREG6",
        name: "xreg6",
        nxm_name: "OXM_OF_PKT_REG6",
        n_bits: 64,
        n_bytes: 8,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8001, 6)],
    },
    Field {
        mff: "XREG7",
        name: "xreg7",
        nxm_name: "OXM_OF_PKT_REG7",
        n_bits: 64,
        n_bytes: 8,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8001, 7)],
    },
    Field {
        mff: "XXREG0",
        name: "xxreg0",
        nxm_name: "NXM_NX_XXREG0",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 111)],
    },
    Field {
        mff: "XXREG1",
        name: "xxreg1",
        nxm_name: "NXM_NX_XXREG1",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 112)],
    },
    Field {
        mff: "XXREG2",
        name: "xxreg2",
        nxm_name: "NXM_NX_XXREG2",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 113)],
    },
    Field {
        mff: "XXREG3",
        name: "xxreg3",
        nxm_name: "NXM_NX_XXREG3",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x1, 114)],
    },
    Field {
        mff: "ETH_SRC",
        name: "eth_src",
        nxm_name: "NXM_OF_ETH_SRC",
        n_bits: 48,
        n_bytes: 6,
        fmt: Fmt::Ethernet,
        headers: &[(0x0, 0x8000, 4), (0x0, 0x0, 2)],
    },
    Field {
        mff: "ETH_DST",
        name: "eth_dst",
        nxm_name: "NXM_OF_ETH_DST",
        n_bits: 48,
        n_bytes: 6,
        fmt: Fmt::Ethernet,
        headers: &[(0x0, 0x8000, 3), (0x0, 0x0, 1)],
    },
    Field {
        mff: "ETH_TYPE",
        name: "eth_type",
        nxm_name: "NXM_OF_ETH_TYPE",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8000, 5), (0x0, 0x0, 3)],
    },
    Field {
        mff: "VLAN_TCI",
        name: "vlan_tci",
        nxm_name: "NXM_OF_VLAN_TCI",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x0, 4)],
    },
    Field {
        mff: "VLAN_VID",
        name: "vlan_vid",
        nxm_name: "OXM_OF_VLAN_VID",
        n_bits: 12,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 6)],
    },
    Field {
        mff: "VLAN_PCP",
        name: "vlan_pcp",
        nxm_name: "OXM_OF_VLAN_PCP",
        n_bits: 3,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 7)],
    },
    Field {
        mff: "MPLS_LABEL",
        name: "mpls_label",
        nxm_name: "OXM_OF_MPLS_LABEL",
        n_bits: 20,
        n_bytes: 4,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 34)],
    },
    Field {
        mff: "MPLS_TC",
        name: "mpls_tc",
        nxm_name: "OXM_OF_MPLS_TC",
        n_bits: 3,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 35)],
    },
    Field {
        mff: "MPLS_BOS",
        name: "mpls_bos",
        nxm_name: "OXM_OF_MPLS_BOS",
        n_bits: 1,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 36)],
    },
    Field {
        mff: "MPLS_TTL",
        name: "mpls_ttl",
        nxm_name: "NXM_NX_MPLS_TTL",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x1, 30)],
    },
    Field {
        mff: "IPV4_SRC",
        name: "ip_src",
        nxm_name: "NXM_OF_IP_SRC",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Ipv4,
        headers: &[(0x0, 0x8000, 11), (0x0, 0x0, 7)],
    },
    Field {
        mff: "IPV4_DST",
        name: "ip_dst",
        nxm_name: "NXM_OF_IP_DST",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Ipv4,
        headers: &[(0x0, 0x8000, 12), (0x0, 0x0, 8)],
    },
    Field {
        mff: "IPV6_SRC",
        name: "ipv6_src",
        nxm_name: "NXM_NX_IPV6_SRC",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Ipv6,
        headers: &[(0x0, 0x8000, 26), (0x0, 0x1, 19)],
    },
    Field {
        mff: "IPV6_DST",
        name: "ipv6_dst",
        nxm_name: "NXM_NX_IPV6_DST",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Ipv6,
        headers: &[(0x0, 0x8000, 27), (0x0, 0x1, 20)],
    },
    Field {
        mff: "IPV6_LABEL",
        name: "ipv6_label",
        nxm_name: "NXM_NX_IPV6_LABEL",
        n_bits: 20,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x0, 0x8000, 28), (0x0, 0x1, 27)],
    },
    Field {
        mff: "IP_PROTO",
        name: "nw_proto",
        nxm_name: "NXM_OF_IP_PROTO",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 10), (0x0, 0x0, 6)],
    },
    Field {
        mff: "IP_DSCP",
        name: "nw_tos",
        nxm_name: "NXM_OF_IP_TOS",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x0, 5)],
    },
    Field {
        mff: "IP_DSCP_SHIFTED",
        name: "ip_dscp",
        nxm_name: "OXM_OF_IP_DSCP",
        n_bits: 6,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 8)],
    },
    Field {
        mff: "IP_ECN",
        name: "nw_ecn",
        nxm_name: "NXM_NX_IP_ECN",
        n_bits: 2,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 9), (0x0, 0x1, 28)],
    },
    Field {
        mff: "IP_TTL",
        name: "nw_ttl",
        nxm_name: "NXM_NX_IP_TTL",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x1, 29)],
    },
    Field {
        mff: "IP_FRAG",
        name: "ip_frag",
        nxm_name: "NXM_NX_IP_FRAG",
        n_bits: 2,
        n_bytes: 1,
        fmt: Fmt::Frag,
        headers: &[(0x0, 0x1, 26)],
    },
    Field {
        mff: "ARP_OP",
        name: "arp_op",
        nxm_name: "NXM_OF_ARP_OP",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 21), (0x0, 0x0, 15)],
    },
    Field {
        mff: "ARP_SPA",
        name: "arp_spa",
        nxm_name: "NXM_OF_ARP_SPA",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Ipv4,
        headers: &[(0x0, 0x8000, 22), (0x0, 0x0, 16)],
    },
    Field {
        mff: "ARP_TPA",
        name: "arp_tpa",
        nxm_name: "NXM_OF_ARP_TPA",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Ipv4,
        headers: &[(0x0, 0x8000, 23), (0x0, 0x0, 17)],
    },
    Field {
        mff: "ARP_SHA",
        name: "arp_sha",
        nxm_name: "NXM_NX_ARP_SHA",
        n_bits: 48,
        n_bytes: 6,
        fmt: Fmt::Ethernet,
        headers: &[(0x0, 0x8000, 24), (0x0, 0x1, 17)],
    },
    Field {
        mff: "ARP_THA",
        name: "arp_tha",
        nxm_name: "NXM_NX_ARP_THA",
        n_bits: 48,
        n_bytes: 6,
        fmt: Fmt::Ethernet,
        headers: &[(0x0, 0x8000, 25), (0x0, 0x1, 18)],
    },
    Field {
        mff: "TCP_SRC",
        name: "tcp_src",
        nxm_name: "NXM_OF_TCP_SRC",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 13), (0x0, 0x0, 9)],
    },
    Field {
        mff: "TCP_DST",
        name: "tcp_dst",
        nxm_name: "NXM_OF_TCP_DST",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 14), (0x0, 0x0, 10)],
    },
    Field {
        mff: "TCP_FLAGS",
        name: "tcp_flags",
        nxm_name: "NXM_NX_TCP_FLAGS",
        n_bits: 12,
        n_bytes: 2,
        fmt: Fmt::TcpFlags,
        headers: &[(0x4f4e4600, 0xffff, 42), (0x0, 0x8000, 42), (0x0, 0x1, 34)],
    },
    Field {
        mff: "UDP_SRC",
        name: "udp_src",
        nxm_name: "NXM_OF_UDP_SRC",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 15), (0x0, 0x0, 11)],
    },
    Field {
        mff: "UDP_DST",
        name: "udp_dst",
        nxm_name: "NXM_OF_UDP_DST",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 16), (0x0, 0x0, 12)],
    },
    Field {
        mff: "SCTP_SRC",
        name: "sctp_src",
        nxm_name: "OXM_OF_SCTP_SRC",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 17)],
    },
    Field {
        mff: "SCTP_DST",
        name: "sctp_dst",
        nxm_name: "OXM_OF_SCTP_DST",
        n_bits: 16,
        n_bytes: 2,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 18)],
    },
    Field {
        mff: "ICMPV4_TYPE",
        name: "icmp_type",
        nxm_name: "NXM_OF_ICMP_TYPE",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 19), (0x0, 0x0, 13)],
    },
    Field {
        mff: "ICMPV4_CODE",
        name: "icmp_code",
        nxm_name: "NXM_OF_ICMP_CODE",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 20), (0x0, 0x0, 14)],
    },
    Field {
        mff: "ICMPV6_TYPE",
        name: "icmpv6_type",
        nxm_name: "NXM_NX_ICMPV6_TYPE",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 29), (0x0, 0x1, 21)],
    },
    Field {
        mff: "ICMPV6_CODE",
        name: "icmpv6_code",
        nxm_name: "NXM_NX_ICMPV6_CODE",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x8000, 30), (0x0, 0x1, 22)],
    },
    Field {
        mff: "ND_TARGET",
        name: "nd_target",
        nxm_name: "NXM_NX_ND_TARGET",
        n_bits: 128,
        n_bytes: 16,
        fmt: Fmt::Ipv6,
        headers: &[(0x0, 0x8000, 31), (0x0, 0x1, 23)],
    },
    Field {
        mff: "ND_SLL",
        name: "nd_sll",
        nxm_name: "NXM_NX_ND_SLL",
        n_bits: 48,
        n_bytes: 6,
        fmt: Fmt::Ethernet,
        headers: &[(0x0, 0x8000, 32), (0x0, 0x1, 24)],
    },
    Field {
        mff: "ND_TLL",
        name: "nd_tll",
        nxm_name: "NXM_NX_ND_TLL",
        n_bits: 48,
        n_bytes: 6,
        fmt: Fmt::Ethernet,
        headers: &[(0x0, 0x8000, 33), (0x0, 0x1, 25)],
    },
    Field {
        mff: "ND_RESERVED",
        name: "nd_reserved",
        nxm_name: "ERICOXM_OF_ICMPV6_ND_RESERVED",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x1000, 1)],
    },
    Field {
        mff: "ND_OPTIONS_TYPE",
        name: "nd_options_type",
        nxm_name: "ERICOXM_OF_ICMPV6_ND_OPTIONS_TYPE",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x0, 0x1000, 2)],
    },
    Field {
        mff: "NSH_FLAGS",
        name: "nsh_flags",
        nxm_name: "NXOXM_NSH_FLAGS",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x5ad650, 0xffff, 1)],
    },
    Field {
        mff: "NSH_MDTYPE",
        name: "nsh_mdtype",
        nxm_name: "NXOXM_NSH_MDTYPE",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x5ad650, 0xffff, 2)],
    },
    Field {
        mff: "NSH_NP",
        name: "nsh_np",
        nxm_name: "NXOXM_NSH_NP",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x5ad650, 0xffff, 3)],
    },
    Field {
        mff: "NSH_SPI",
        name: "nsh_spi",
        nxm_name: "NXOXM_NSH_SPI",
        n_bits: 24,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x5ad650, 0xffff, 4)],
    },
    Field {
        mff: "NSH_SI",
        name: "nsh_si",
        nxm_name: "NXOXM_NSH_SI",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x5ad650, 0xffff, 5)],
    },
    Field {
        mff: "NSH_C1",
        name: "nsh_c1",
        nxm_name: "NXOXM_NSH_C1",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x5ad650, 0xffff, 6)],
    },
    Field {
        mff: "NSH_C2",
        name: "nsh_c2",
        nxm_name: "NXOXM_NSH_C2",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x5ad650, 0xffff, 7)],
    },
    Field {
        mff: "NSH_C3",
        name: "nsh_c3",
        nxm_name: "NXOXM_NSH_C3",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x5ad650, 0xffff, 8)],
    },
    Field {
        mff: "NSH_C4",
        name: "nsh_c4",
        nxm_name: "NXOXM_NSH_C4",
        n_bits: 32,
        n_bytes: 4,
        fmt: Fmt::Hex,
        headers: &[(0x5ad650, 0xffff, 9)],
    },
    Field {
        mff: "NSH_TTL",
        name: "nsh_ttl",
        nxm_name: "NXOXM_NSH_TTL",
        n_bits: 8,
        n_bytes: 1,
        fmt: Fmt::Decimal,
        headers: &[(0x5ad650, 0xffff, 10)],
    },
];

pub const MFF_DP_HASH: u16 = 0;
pub const MFF_RECIRC_ID: u16 = 1;
pub const MFF_PACKET_TYPE: u16 = 2;
pub const MFF_CONJ_ID: u16 = 3;
pub const MFF_TUN_ID: u16 = 4;
pub const MFF_TUN_SRC: u16 = 5;
pub const MFF_TUN_DST: u16 = 6;
pub const MFF_TUN_IPV6_SRC: u16 = 7;
pub const MFF_TUN_IPV6_DST: u16 = 8;
pub const MFF_TUN_FLAGS: u16 = 9;
pub const MFF_TUN_GBP_ID: u16 = 10;
pub const MFF_TUN_GBP_FLAGS: u16 = 11;
pub const MFF_TUN_ERSPAN_IDX: u16 = 12;
pub const MFF_TUN_ERSPAN_VER: u16 = 13;
pub const MFF_TUN_ERSPAN_DIR: u16 = 14;
pub const MFF_TUN_ERSPAN_HWID: u16 = 15;
pub const MFF_TUN_GTPU_FLAGS: u16 = 16;
pub const MFF_TUN_GTPU_MSGTYPE: u16 = 17;
pub const MFF_METADATA: u16 = 18;
pub const MFF_IN_PORT: u16 = 19;
pub const MFF_IN_PORT_OXM: u16 = 20;
pub const MFF_ACTSET_OUTPUT: u16 = 21;
pub const MFF_PKT_MARK: u16 = 22;
pub const MFF_CT_STATE: u16 = 23;
pub const MFF_CT_ZONE: u16 = 24;
pub const MFF_CT_MARK: u16 = 25;
pub const MFF_CT_LABEL: u16 = 26;
pub const MFF_CT_NW_PROTO: u16 = 27;
pub const MFF_CT_NW_SRC: u16 = 28;
pub const MFF_CT_NW_DST: u16 = 29;
pub const MFF_CT_IPV6_SRC: u16 = 30;
pub const MFF_CT_IPV6_DST: u16 = 31;
pub const MFF_CT_TP_SRC: u16 = 32;
pub const MFF_CT_TP_DST: u16 = 33;
pub const MFF_REG0: u16 = 34;
pub const MFF_REG1: u16 = 35;
pub const MFF_REG2: u16 = 36;
pub const MFF_REG3: u16 = 37;
pub const MFF_REG4: u16 = 38;
pub const MFF_REG5: u16 = 39;
pub const MFF_REG6: u16 = 40;
pub const MFF_REG7: u16 = 41;
pub const MFF_REG8: u16 = 42;
pub const MFF_REG9: u16 = 43;
pub const MFF_REG10: u16 = 44;
pub const MFF_REG11: u16 = 45;
pub const MFF_REG12: u16 = 46;
pub const MFF_REG13: u16 = 47;
pub const MFF_REG14: u16 = 48;
pub const MFF_REG15: u16 = 49;
pub const MFF_XREG0: u16 = 50;
pub const MFF_XREG1: u16 = 51;
pub const MFF_XREG2: u16 = 52;
pub const MFF_XREG3: u16 = 53;
pub const MFF_XREG4: u16 = 54;
pub const MFF_XREG5: u16 = 55;
pub const MFF_XREG6: u16 = 56;
pub const MFF_XREG7: u16 = 57;
pub const MFF_XXREG0: u16 = 58;
pub const MFF_XXREG1: u16 = 59;
pub const MFF_XXREG2: u16 = 60;
pub const MFF_XXREG3: u16 = 61;
pub const MFF_ETH_SRC: u16 = 62;
pub const MFF_ETH_DST: u16 = 63;
pub const MFF_ETH_TYPE: u16 = 64;
pub const MFF_VLAN_TCI: u16 = 65;
pub const MFF_VLAN_VID: u16 = 66;
pub const MFF_VLAN_PCP: u16 = 67;
pub const MFF_MPLS_LABEL: u16 = 68;
pub const MFF_MPLS_TC: u16 = 69;
pub const MFF_MPLS_BOS: u16 = 70;
pub const MFF_MPLS_TTL: u16 = 71;
pub const MFF_IPV4_SRC: u16 = 72;
pub const MFF_IPV4_DST: u16 = 73;
pub const MFF_IPV6_SRC: u16 = 74;
pub const MFF_IPV6_DST: u16 = 75;
pub const MFF_IPV6_LABEL: u16 = 76;
pub const MFF_IP_PROTO: u16 = 77;
pub const MFF_IP_DSCP: u16 = 78;
pub const MFF_IP_DSCP_SHIFTED: u16 = 79;
pub const MFF_IP_ECN: u16 = 80;
pub const MFF_IP_TTL: u16 = 81;
pub const MFF_IP_FRAG: u16 = 82;
pub const MFF_ARP_OP: u16 = 83;
pub const MFF_ARP_SPA: u16 = 84;
pub const MFF_ARP_TPA: u16 = 85;
pub const MFF_ARP_SHA: u16 = 86;
pub const MFF_ARP_THA: u16 = 87;
pub const MFF_TCP_SRC: u16 = 88;
pub const MFF_TCP_DST: u16 = 89;
pub const MFF_TCP_FLAGS: u16 = 90;
pub const MFF_UDP_SRC: u16 = 91;
pub const MFF_UDP_DST: u16 = 92;
pub const MFF_SCTP_SRC: u16 = 93;
pub const MFF_SCTP_DST: u16 = 94;
pub const MFF_ICMPV4_TYPE: u16 = 95;
pub const MFF_ICMPV4_CODE: u16 = 96;
pub const MFF_ICMPV6_TYPE: u16 = 97;
pub const MFF_ICMPV6_CODE: u16 = 98;
pub const MFF_ND_TARGET: u16 = 99;
pub const MFF_ND_SLL: u16 = 100;
pub const MFF_ND_TLL: u16 = 101;
pub const MFF_ND_RESERVED: u16 = 102;
pub const MFF_ND_OPTIONS_TYPE: u16 = 103;
pub const MFF_NSH_FLAGS: u16 = 104;
pub const MFF_NSH_MDTYPE: u16 = 105;
pub const MFF_NSH_NP: u16 = 106;
pub const MFF_NSH_SPI: u16 = 107;
pub const MFF_NSH_SI: u16 = 108;
pub const MFF_NSH_C1: u16 = 109;
pub const MFF_NSH_C2: u16 = 110;
pub const MFF_NSH_C3: u16 = 111;
pub const MFF_NSH_C4: u16 = 112;
pub const MFF_NSH_TTL: u16 = 113;
