/* console_assets.S — puts the web console's files (src/api/console/) into the binary as
 * read-only bytes, each between a start and an end symbol that console.c serves. */
    .section .rodata
    .balign 16
    .global ferry_console_index_html
    .global ferry_console_index_html_end
ferry_console_index_html:
    .incbin "index.html"
ferry_console_index_html_end:
    .byte 0

    .balign 16
    .global ferry_console_js
    .global ferry_console_js_end
ferry_console_js:
    .incbin "console.js"
ferry_console_js_end:
    .byte 0

    .balign 16
    .global ferry_console_css
    .global ferry_console_css_end
ferry_console_css:
    .incbin "console.css"
ferry_console_css_end:
    .byte 0

    .section .note.GNU-stack,"",%progbits
