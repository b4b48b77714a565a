//! `#[derive(ShmSafe)]` for [shmkit](https://docs.rs/shmkit).
//!
//! Use it through shmkit, which re-exports it next to the trait of the same name:
//! `use shmkit::ShmSafe;` brings both. The rules it enforces and examples are on [`ShmSafe`].

use proc_macro::TokenStream;
use proc_macro2::TokenStream as TokenStream2;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Data, DataStruct, DeriveInput, Error, Fields, GenericParam, Ident, Index, parse_quote};

/// Derives `shmkit::ShmSafe` for a struct that may live in shared memory, with its layout
/// fingerprint.
///
/// The struct must:
///
/// * be `#[repr(C)]` or `#[repr(transparent)]` (`align(N)` may be added), so every build lays it
///   out the same way; the default Rust layout is unspecified and may change between builds;
/// * not be `packed`: a packed struct's fields may be unaligned, and a reference to an unaligned
///   field (shared objects are reached through references) is undefined behaviour;
/// * have only `ShmSafe` fields: integers, floats, atomics, arrays of them, shmkit's locks, and
///   other `ShmSafe` structs; not `bool`, `char`, references, raw pointers or heap types;
/// * have no lifetime parameters. Type parameters are fine: the impl requires each to be
///   `ShmSafe`.
///
/// Padding between fields is allowed: padding bytes have no validity requirement, so any bit
/// pattern is still a valid value. Enums and unions are refused (see below).
///
/// The generated `FINGERPRINT` is
/// `shmkit::fingerprint::StructFingerprint::new(name, size, align)`, then `.field(name, offset,
/// fingerprint)` for each field in order, where the struct's name is its identifier as written
/// and tuple-struct fields are named `"0"`, `"1"`, ...; see `shmkit::fingerprint`.
///
/// Deriving promises that *any* combination of field values is a valid struct: another process
/// may write any of them. Do not derive it for a struct whose `unsafe` code relies on an
/// invariant between its fields (a length that must not exceed a capacity, say); check such an
/// invariant when reading instead.
///
/// A value in shared memory is never dropped, so a `Drop` impl on such a struct does not run for
/// it (which is not undefined behaviour, only a leak); the derive does not stop you writing one.
///
/// # Examples
///
/// ```
/// use shmkit::sync::Mutex;
/// use shmkit::{MappedRegion, ShmSafe};
/// use std::sync::atomic::{AtomicU32, Ordering};
///
/// #[derive(ShmSafe, Clone, Copy, Debug, PartialEq)]
/// #[repr(C)]
/// struct Point {
///     x: f64,
///     y: f64,
/// }
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Board {
///     generation: AtomicU32,
///     points: Mutex<[Point; 16]>,
/// }
///
/// #[derive(ShmSafe)]
/// #[repr(transparent)]
/// struct Meters(f64);
///
/// #[derive(ShmSafe)]
/// #[repr(C)]
/// struct Ring<T, const N: usize> {
///     head: AtomicU32,
///     slots: [T; N],
/// }
///
/// let region = MappedRegion::anonymous(1 << 16)?;
/// region.write(0, &Point { x: 1.0, y: 2.0 })?;
/// assert_eq!(region.read::<Point>(0)?, Point { x: 1.0, y: 2.0 });
///
/// // SAFETY: these bytes are only accessed through this reference.
/// let board: &Board = unsafe { region.get(4096)? };
/// board.points.lock().unwrap()[3] = Point { x: 3.0, y: 4.0 };
/// board.generation.fetch_add(1, Ordering::Relaxed);
///
/// assert_ne!(Ring::<u32, 8>::FINGERPRINT, Ring::<u64, 8>::FINGERPRINT);
/// # let _ = Meters(1.0).0;
/// # Ok::<(), shmkit::Error>(())
/// ```
///
/// # What it refuses
///
/// A struct without `#[repr(C)]` or `#[repr(transparent)]`:
///
/// ```compile_fail
/// #[derive(shmkit::ShmSafe)]
/// struct NoRepr {
///     a: u32,
/// }
/// ```
///
/// A packed struct:
///
/// ```compile_fail
/// #[derive(shmkit::ShmSafe)]
/// #[repr(C, packed)]
/// struct Packed {
///     a: u8,
///     b: u32,
/// }
/// ```
///
/// An enum: only the declared discriminants are valid values, and another process may write
/// any byte. Store an integer and convert it (`TryFrom`) when reading:
///
/// ```compile_fail
/// #[derive(shmkit::ShmSafe)]
/// #[repr(u8)]
/// enum State {
///     Idle,
///     Busy,
/// }
/// ```
///
/// A union: reading a field is `unsafe`, and sound only for the field the writer meant, which
/// another process decides:
///
/// ```compile_fail
/// #[derive(shmkit::ShmSafe)]
/// #[repr(C)]
/// union Bits {
///     int: u32,
///     float: f32,
/// }
/// ```
///
/// A field that is not `ShmSafe`: a `bool` (only 0 and 1 are valid bytes),
///
/// ```compile_fail,E0277
/// #[derive(shmkit::ShmSafe)]
/// #[repr(C)]
/// struct Flags {
///     ready: bool,
/// }
/// ```
///
/// a reference (an address in one process means nothing in another),
///
/// ```compile_fail,E0277
/// #[derive(shmkit::ShmSafe)]
/// #[repr(C)]
/// struct Borrowing {
///     target: &'static u32,
/// }
/// ```
///
/// a heap type (its buffer is in one process's heap),
///
/// ```compile_fail,E0277
/// #[derive(shmkit::ShmSafe)]
/// #[repr(C)]
/// struct Named {
///     name: String,
/// }
/// ```
///
/// or a field whose type depends on a parameter in a way that is not `ShmSafe`:
///
/// ```compile_fail,E0277
/// #[derive(shmkit::ShmSafe)]
/// #[repr(C)]
/// struct Cells<T> {
///     cells: Vec<T>,
/// }
/// ```
///
/// A lifetime parameter (borrowed data cannot live in shared memory):
///
/// ```compile_fail
/// #[derive(shmkit::ShmSafe)]
/// #[repr(C)]
/// struct View<'a> {
///     len: u32,
///     _marker: std::marker::PhantomData<&'a ()>,
/// }
/// ```
#[proc_macro_derive(ShmSafe)]
pub fn derive_shm_safe(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as DeriveInput);
    expand(&input)
        .unwrap_or_else(Error::into_compile_error)
        .into()
}

fn expand(input: &DeriveInput) -> syn::Result<TokenStream2> {
    let data = match &input.data {
        Data::Struct(data) => data,
        Data::Enum(data) => {
            return Err(Error::new(
                data.enum_token.span,
                "ShmSafe cannot be derived for enums: another process may write any bytes, and \
                 a byte that is not one of the declared discriminants is undefined behaviour \
                 when viewed as the enum. Store an integer (e.g. `u8`) and convert it with \
                 `TryFrom` when reading",
            ));
        }
        Data::Union(data) => {
            return Err(Error::new(
                data.union_token.span,
                "ShmSafe cannot be derived for unions: reading a union field is `unsafe` and \
                 sound only for the field the writer meant, which another process decides. Use \
                 a `#[repr(C)]` struct, or an integer or byte array with explicit conversions",
            ));
        }
    };
    check_repr(input)?;
    if let Some(lifetime) = input.generics.lifetimes().next() {
        return Err(Error::new_spanned(
            lifetime,
            "ShmSafe types must be `'static`: a lifetime parameter means borrowed data, and \
             an address in one process means nothing in another",
        ));
    }

    let name = &input.ident;
    let name_str = name.unraw().to_string();
    let fields = fingerprint_fields(data);

    // Every type parameter must be ShmSafe itself; const parameters need nothing.
    let mut generics = input.generics.clone();
    let type_params: Vec<Ident> = generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(t.ident.clone()),
            _ => None,
        })
        .collect();
    let where_clause = generics.make_where_clause();
    for t in type_params {
        where_clause
            .predicates
            .push(parse_quote!(#t: ::shmkit::ShmSafe));
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();

    // Soundness: `check_repr` guarantees a stable, aligned layout (`repr(C)` or
    // `repr(transparent)`, not packed); each field's fingerprint is `<Ty as ShmSafe>::FINGERPRINT`,
    // which does not compile unless the field type is ShmSafe (any bit pattern valid, no pointers
    // or handles, Send + Sync, 'static). A struct of such fields has all these properties too;
    // padding bytes have no validity requirement.
    // No padding: every field is padding-free and the fields' sizes add up to the struct's.
    let field_types = field_types(data);
    let no_padding = quote! {
        true #(&& <#field_types as ::shmkit::ShmSafe>::NO_PADDING)*
            && (0 #(+ ::core::mem::size_of::<#field_types>())*) == ::core::mem::size_of::<Self>()
    };
    Ok(quote! {
        #[automatically_derived]
        unsafe impl #impl_generics ::shmkit::ShmSafe for #name #ty_generics #where_clause {
            const FINGERPRINT: u64 = ::shmkit::fingerprint::StructFingerprint::new(
                #name_str,
                ::core::mem::size_of::<Self>(),
                ::core::mem::align_of::<Self>(),
            )
            #(#fields)*
            .finish();
            const NO_PADDING: bool = #no_padding;
        }
    })
}

/// Accepts `repr(C)` or `repr(transparent)` (with `align(N)` if wanted); refuses `packed` and
/// everything else.
fn check_repr(input: &DeriveInput) -> syn::Result<()> {
    let mut stable = false;
    for attr in input.attrs.iter().filter(|a| a.path().is_ident("repr")) {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("C") || meta.path.is_ident("transparent") {
                stable = true;
            } else if meta.path.is_ident("packed") {
                return Err(meta.error(
                    "ShmSafe cannot be derived for a `repr(packed)` struct: its fields may be \
                     unaligned, and a reference to an unaligned field is undefined behaviour. \
                     Remove `packed` (reorder the fields if the padding matters)",
                ));
            }
            // `align(N)`, `Rust` and anything else: consume the arguments, if any, and let
            // the missing `C` decide.
            if meta.input.peek(syn::token::Paren) {
                let content;
                syn::parenthesized!(content in meta.input);
                content.parse::<TokenStream2>()?;
            }
            Ok(())
        })?;
    }
    if stable {
        Ok(())
    } else {
        Err(Error::new_spanned(
            &input.ident,
            format!(
                "ShmSafe requires `#[repr(C)]` or `#[repr(transparent)]` on `{}`: the default \
                 Rust layout is unspecified and may differ between builds, so two processes \
                 could disagree on where each field is",
                input.ident
            ),
        ))
    }
}

/// The field types, in declaration order.
fn field_types(data: &DataStruct) -> Vec<&syn::Type> {
    data.fields.iter().map(|f| &f.ty).collect()
}

/// One `.field(name, offset, fingerprint)` call per field, in declaration order. The field's
/// fingerprint expression carries the field type's span, so a field that is not ShmSafe is
/// reported on that field.
fn fingerprint_fields(data: &DataStruct) -> Vec<TokenStream2> {
    let members: Vec<(String, TokenStream2, &syn::Type)> = match &data.fields {
        Fields::Named(named) => named
            .named
            .iter()
            .map(|f| {
                let ident = f.ident.as_ref().expect("named field");
                (ident.unraw().to_string(), quote!(#ident), &f.ty)
            })
            .collect(),
        Fields::Unnamed(unnamed) => unnamed
            .unnamed
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let index = Index::from(i);
                (i.to_string(), quote!(#index), &f.ty)
            })
            .collect(),
        Fields::Unit => Vec::new(),
    };
    members
        .into_iter()
        .map(|(name, member, ty)| {
            let fingerprint = quote_spanned!(ty.span()=> <#ty as ::shmkit::ShmSafe>::FINGERPRINT);
            quote! {
                .field(#name, ::core::mem::offset_of!(Self, #member), #fingerprint)
            }
        })
        .collect()
}
