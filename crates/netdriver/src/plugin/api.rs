//! The JSON of Docker's network driver and IPAM driver plugin protocols
//! (libnetwork's remote driver API; field names as Docker sends them).
//! Lenient: unknown fields are ignored, missing ones default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const CONTENT_TYPE: &str = "application/vnd.docker.plugins.v1.2+json";

/// Go sends `null` for empty maps and slices: read it as the default.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IpamData {
    #[serde(rename = "AddressSpace", deserialize_with = "nullable")]
    pub address_space: String,
    #[serde(rename = "Pool", deserialize_with = "nullable")]
    pub pool: String,
    #[serde(rename = "Gateway", deserialize_with = "nullable")]
    pub gateway: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateNetworkRequest {
    #[serde(rename = "NetworkID", deserialize_with = "nullable")]
    pub network_id: String,
    #[serde(rename = "Options", deserialize_with = "nullable")]
    pub options: BTreeMap<String, Value>,
    #[serde(rename = "IPv4Data")]
    pub ipv4_data: Option<Vec<IpamData>>,
    #[serde(rename = "IPv6Data")]
    pub ipv6_data: Option<Vec<IpamData>>,
}

impl CreateNetworkRequest {
    /// A driver option (`docker network create -o KEY=VALUE`).
    pub fn generic_option(&self, key: &str) -> Option<String> {
        let generic = self.options.get("com.docker.network.generic")?;
        match generic.get(key)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NetworkRequest {
    #[serde(rename = "NetworkID", deserialize_with = "nullable")]
    pub network_id: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct EndpointInterface {
    #[serde(
        rename = "Address",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub address: String,
    #[serde(
        rename = "AddressIPv6",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub address_ipv6: String,
    #[serde(
        rename = "MacAddress",
        skip_serializing_if = "String::is_empty",
        deserialize_with = "nullable"
    )]
    pub mac_address: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CreateEndpointRequest {
    #[serde(rename = "NetworkID", deserialize_with = "nullable")]
    pub network_id: String,
    #[serde(rename = "EndpointID", deserialize_with = "nullable")]
    pub endpoint_id: String,
    #[serde(rename = "Interface")]
    pub interface: Option<EndpointInterface>,
}

#[derive(Debug, Default, Serialize)]
pub struct CreateEndpointResponse {
    #[serde(rename = "Interface", skip_serializing_if = "Option::is_none")]
    pub interface: Option<EndpointInterface>,
}

/// DeleteEndpoint, EndpointOperInfo, Leave.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct EndpointRequest {
    #[serde(rename = "NetworkID", deserialize_with = "nullable")]
    pub network_id: String,
    #[serde(rename = "EndpointID", deserialize_with = "nullable")]
    pub endpoint_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct JoinRequest {
    #[serde(rename = "NetworkID", deserialize_with = "nullable")]
    pub network_id: String,
    #[serde(rename = "EndpointID", deserialize_with = "nullable")]
    pub endpoint_id: String,
    #[serde(rename = "SandboxKey", deserialize_with = "nullable")]
    pub sandbox_key: String,
}

#[derive(Debug, Default, Serialize)]
pub struct InterfaceName {
    #[serde(rename = "SrcName", deserialize_with = "nullable")]
    pub src_name: String,
    #[serde(rename = "DstPrefix", deserialize_with = "nullable")]
    pub dst_prefix: String,
}

#[derive(Debug, Default, Serialize)]
pub struct JoinResponse {
    #[serde(rename = "InterfaceName")]
    pub interface_name: InterfaceName,
    #[serde(rename = "Gateway", skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    #[serde(rename = "DisableGatewayService")]
    pub disable_gateway_service: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequestPoolRequest {
    #[serde(rename = "AddressSpace", deserialize_with = "nullable")]
    pub address_space: String,
    #[serde(rename = "Pool", deserialize_with = "nullable")]
    pub pool: String,
    #[serde(rename = "SubPool", deserialize_with = "nullable")]
    pub sub_pool: String,
    #[serde(rename = "Options", deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
    #[serde(rename = "V6", deserialize_with = "nullable")]
    pub v6: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct RequestPoolResponse {
    #[serde(rename = "PoolID", deserialize_with = "nullable")]
    pub pool_id: String,
    #[serde(rename = "Pool", deserialize_with = "nullable")]
    pub pool: String,
    #[serde(rename = "Data")]
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReleasePoolRequest {
    #[serde(rename = "PoolID", deserialize_with = "nullable")]
    pub pool_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RequestAddressRequest {
    #[serde(rename = "PoolID", deserialize_with = "nullable")]
    pub pool_id: String,
    #[serde(rename = "Address", deserialize_with = "nullable")]
    pub address: String,
    #[serde(rename = "Options", deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
}

#[derive(Debug, Default, Serialize)]
pub struct RequestAddressResponse {
    #[serde(rename = "Address", deserialize_with = "nullable")]
    pub address: String,
    #[serde(rename = "Data")]
    pub data: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ReleaseAddressRequest {
    #[serde(rename = "PoolID", deserialize_with = "nullable")]
    pub pool_id: String,
    #[serde(rename = "Address", deserialize_with = "nullable")]
    pub address: String,
}

/// The option Docker sets when it asks for a network's gateway address.
pub const REQUEST_ADDRESS_TYPE: &str = "RequestAddressType";
pub const GATEWAY_TYPE: &str = "com.docker.network.gateway";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_nulls_read_as_defaults() {
        let r: RequestAddressRequest =
            serde_json::from_str(r#"{"PoolID":"10.7.0.0/24","Address":"","Options":null}"#)
                .unwrap();
        assert!(r.options.is_empty());
        let r: CreateNetworkRequest = serde_json::from_str(
            r#"{"NetworkID":"n","Options":{"com.docker.network.generic":{"vni":"7"}},"IPv4Data":[{"Pool":"10.7.0.0/24","Gateway":null}],"IPv6Data":null}"#,
        )
        .unwrap();
        assert_eq!(r.generic_option("vni").as_deref(), Some("7"));
        assert_eq!(r.ipv4_data.unwrap()[0].gateway, "");
        let r: CreateEndpointRequest =
            serde_json::from_str(r#"{"NetworkID":"n","EndpointID":"e","Interface":{"Address":"10.7.0.2/24","AddressIPv6":null,"MacAddress":""},"Options":null}"#).unwrap();
        assert_eq!(r.interface.unwrap().address, "10.7.0.2/24");
    }
}
